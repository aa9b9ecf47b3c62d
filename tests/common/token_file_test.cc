#include "common/token_file.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related {
namespace {

using ::testing::HasSubstr;

// Not a variable the server or CLI reads, so the test cannot pick up a
// token from the environment it runs in.
constexpr char kEnvVar[] = "RELATED_TOKEN_FILE_TEST_TOKEN";

std::string WriteTokenFile(const std::string& name,
                           const std::string& content) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

class LoadTokenTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv(kEnvVar); }
  void TearDown() override { unsetenv(kEnvVar); }
};

TEST_F(LoadTokenTest, ReadsTheFileWithoutOneTrailingNewline) {
  EXPECT_EQ(*LoadToken(WriteTokenFile("plain", "s3cret"), kEnvVar), "s3cret");
  EXPECT_EQ(*LoadToken(WriteTokenFile("lf", "s3cret\n"), kEnvVar), "s3cret");
  EXPECT_EQ(*LoadToken(WriteTokenFile("crlf", "s3cret\r\n"), kEnvVar),
            "s3cret");
  // Only one newline is the file's ending; a second one is the token's.
  EXPECT_EQ(*LoadToken(WriteTokenFile("two", "s3cret\n\n"), kEnvVar),
            "s3cret\n");
}

TEST_F(LoadTokenTest, TheFileWinsOverTheEnvironment) {
  setenv(kEnvVar, "from-env", 1);
  EXPECT_EQ(*LoadToken(WriteTokenFile("file", "from-file\n"), kEnvVar),
            "from-file");
}

TEST_F(LoadTokenTest, WithoutAFileReadsTheEnvironmentOrNothing) {
  EXPECT_EQ(*LoadToken("", kEnvVar), "");
  setenv(kEnvVar, "from-env\r\n", 1);
  EXPECT_EQ(*LoadToken("", kEnvVar), "from-env");
}

TEST_F(LoadTokenTest, AnUnreadableFileIsAnErrorNamingIt) {
  const std::string missing = ::testing::TempDir() + "/no-such.token";
  setenv(kEnvVar, "from-env", 1);
  auto token = LoadToken(missing, kEnvVar);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(token.status().message()),
              HasSubstr("cannot read token file " + missing + ": "));
}

TEST_F(LoadTokenTest, AFileWithOnlyANewlineIsEmpty) {
  const std::string path = WriteTokenFile("empty", "\n");
  auto token = LoadToken(path, kEnvVar);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(token.status().message(), "token file " + path + " is empty");
}

}  // namespace
}  // namespace related
