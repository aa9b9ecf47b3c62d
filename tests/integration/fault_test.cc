// Faults of the data directory's file system, with the real binary: disk
// full (a small tmpfs): writes fail with a clear status, reads keep
// working, nothing acknowledged is lost, and writes succeed again once space
// returns; a read-only data directory at start: one clear line. (Linux
// refuses to remount read-only while the server holds its log open for
// writing, so read-only is tested at start.) Needs root for mount(2);
// skipped with the reason where mounting is not allowed.
#include <signal.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "client/related_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace related {
namespace {

using client::Article;
using client::RelatedClient;
using ::testing::HasSubstr;
using testing::ServerBinary;
using testing::ServerProcess;

constexpr int kDim = 64;

Article MakeArticle(int i) {
  Article a;
  a.id = "fault/" + std::to_string(i);
  for (int d = 0; d < kDim; ++d)
    a.embedding.push_back(float((i * 31 + d * 7) % 17) - 8.0f);
  a.embedding[0] += 100.0f;  // never the zero vector
  a.metadata.title =
      std::string(400, 'x');  // bigger records fill the disk sooner
  return a;
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/related-fault-XXXXXX";
    dir_ = mkdtemp(pattern);
    if (mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=256k") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                   << "); the disk-full and read-only tests need root";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir_);
  }
  void Remount(const char* options, unsigned long flags = 0) {
    ASSERT_EQ(
        mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | flags, options), 0)
        << std::strerror(errno);
  }
  absl::StatusOr<ServerProcess> StartServer() {
    return ServerProcess::Start(
        ServerBinary(),
        {"--data_dir=" + dir_, "--dim=" + std::to_string(kDim), "--index=exact",
         "--snapshot_interval=0s", "--snapshot_wal_bytes=100000000"});
  }

  std::string dir_;
  bool mounted_ = false;
};

TEST_F(FaultTest, DiskFullFailsWritesCleanlyAndRecoversWhenSpaceReturns) {
  auto server = StartServer();
  ASSERT_TRUE(server.ok()) << server.status();
  RelatedClient client({server->grpc_address(), absl::Seconds(10)});
  ASSERT_TRUE(client.WaitUntilServing(absl::Seconds(20)).ok());

  std::set<std::string> acknowledged;
  absl::Status failure;
  for (int i = 0; i < 2000 && failure.ok(); ++i) {
    auto written = client.Upsert({MakeArticle(i)});
    if (written.ok()) {
      acknowledged.insert(MakeArticle(i).id);
    } else {
      failure = written.status();
    }
  }
  ASSERT_FALSE(failure.ok()) << "256 KiB never filled up";
  EXPECT_EQ(failure.code(), absl::StatusCode::kResourceExhausted) << failure;
  EXPECT_THAT(std::string(failure.message()), HasSubstr("No space left"));
  ASSERT_GT(acknowledged.size(), 10u);

  // Reads go on; the rejected article was not applied.
  EXPECT_TRUE(client.Related(*acknowledged.begin(), 5).ok());
  const int rejected = static_cast<int>(acknowledged.size());
  EXPECT_EQ(client.GetArticle(MakeArticle(rejected).id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client.GetStats()->article_count,
            static_cast<int64_t>(acknowledged.size()));

  // Space returns: writes succeed again, with no restart.
  Remount("size=16m");
  ASSERT_TRUE(client.Upsert({MakeArticle(rejected)}).ok());
  acknowledged.insert(MakeArticle(rejected).id);

  // Everything acknowledged survives a SIGKILL; the log is readable.
  ASSERT_EQ(*server->StopWith(SIGKILL), 128 + SIGKILL);
  auto restarted = StartServer();
  ASSERT_TRUE(restarted.ok());
  RelatedClient again({restarted->grpc_address(), absl::Seconds(10)});
  ASSERT_TRUE(again.WaitUntilServing(absl::Seconds(20)).ok())
      << restarted->DrainStderr();
  EXPECT_EQ(again.GetStats()->article_count,
            static_cast<int64_t>(acknowledged.size()));
  for (const std::string& id : acknowledged) {
    ASSERT_TRUE(again.GetArticle(id).ok()) << id;
  }
  EXPECT_EQ(*restarted->StopWith(SIGTERM), 0) << restarted->DrainStderr();
}

TEST_F(FaultTest, UnusableDataDirectoryIsAOneLineStartupError) {
  Remount("size=16m", MS_RDONLY);
  auto run = ServerProcess::RunToExit(
      ServerBinary(),
      {"--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
       "--data_dir=" + dir_, "--dim=8"});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->code, 1);
  EXPECT_THAT(run->stderr_text, HasSubstr("Read-only file system"));
}

}  // namespace
}  // namespace related
