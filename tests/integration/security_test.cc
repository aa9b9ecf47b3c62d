// TLS, mutual TLS and bearer tokens, end to end: the real related-server
// binary on loopback, with a CA, server and client certificates made by the
// `openssl` command line in a temporary directory for this run.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/related_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace related {
namespace {

using client::Article;
using client::ClientOptions;
using client::ClientTlsOptions;
using client::RelatedClient;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ServerBinary;
using testing::ServerProcess;

constexpr int kDim = 4;
// Distinctive, so that finding them in the server's stderr means a leak.
constexpr char kWriteToken[] = "write-7f3a9c51e0b24d6f8a1e";
constexpr char kReadToken[] = "read-2b8d4e6f0a1c3e5a7b9d";
constexpr char kWrongToken[] = "wrong-5c0e9a7b3d1f2e4a6c8b";

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::vector<Article> SomeArticles() {
  std::vector<Article> articles;
  for (int i = 0; i < 3; ++i) {
    Article a;
    a.id = "story-" + std::to_string(i);
    a.embedding.assign(kDim, 0.1f);
    a.embedding[i] = 1.0f;
    articles.push_back(std::move(a));
  }
  return articles;
}

// A CA and certificates signed by it, for one test binary run.
class Pki {
 public:
  // Fails the calling test (returns false) if openssl is missing or fails.
  bool Create() {
    char pattern[] = "/tmp/related-security-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return false;
    dir_ = pattern;
    // P-256 keys: quick to generate, and what gRPC's TLS handles by default.
    const std::string key_opts =
        "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    WriteFile(Path("server.ext"),
              "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
              "basicConstraints=CA:FALSE\n"
              "extendedKeyUsage=serverAuth\n");
    WriteFile(Path("client.ext"),
              "basicConstraints=CA:FALSE\n"
              "extendedKeyUsage=clientAuth\n");
    const std::vector<std::string> commands = {
        absl::StrCat("openssl req -x509 ", key_opts, " -days 1 -subj ",
                     "'/CN=related test CA' -keyout ca.key -out ca.pem"),
        absl::StrCat("openssl req ", key_opts, " -subj '/CN=localhost' ",
                     "-keyout server.key -out server.csr"),
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -days 1 -extfile server.ext -out server.pem",
        absl::StrCat("openssl req ", key_opts, " -subj '/CN=site backend' ",
                     "-keyout client.key -out client.csr"),
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -days 1 -extfile client.ext -out client.pem",
    };
    for (const std::string& command : commands) {
      const std::string line =
          absl::StrCat("cd '", dir_, "' && ", command, " >openssl.log 2>&1");
      if (std::system(line.c_str()) != 0) {
        ADD_FAILURE() << "failed: " << command << " (see " << dir_
                      << "/openssl.log)";
        return false;
      }
    }
    return true;
  }

  ~Pki() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki();
    pki_ok_ = pki_->Create();
    WriteFile(pki_->Path("write.token"), absl::StrCat(kWriteToken, "\n"));
    WriteFile(pki_->Path("read.token"), kReadToken);
  }
  void SetUp() override {
    ASSERT_TRUE(pki_ok_) << "could not make certificates with openssl";
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  // Starts the server with `flags`; `options` (address filled in) must be
  // able to reach its health check.
  void StartServer(const std::vector<std::string>& flags,
                   ClientOptions options = {}) {
    std::vector<std::string> all = {"--dim=" + std::to_string(kDim),
                                    "--index=exact", "--shutdown_grace=500ms"};
    all.insert(all.end(), flags.begin(), flags.end());
    auto server = ServerProcess::Start(ServerBinary(), all);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::make_unique<ServerProcess>(*std::move(server));
    options.address = server_->grpc_address();
    RelatedClient client(options);
    ASSERT_TRUE(client.WaitUntilServing(absl::Seconds(20)).ok())
        << server_->DrainStderr();
  }

  ClientOptions Client(std::optional<ClientTlsOptions> tls,
                       const std::string& token = "") const {
    ClientOptions options;
    options.address = server_ != nullptr ? server_->grpc_address() : "";
    options.timeout = absl::Seconds(10);
    options.tls = std::move(tls);
    options.bearer_token = token;
    return options;
  }

  static ClientTlsOptions TrustingCa() {
    ClientTlsOptions tls;
    tls.root_ca_file = pki_->Path("ca.pem");
    return tls;
  }

  static ClientTlsOptions WithClientCert() {
    ClientTlsOptions tls = TrustingCa();
    tls.cert_file = pki_->Path("client.pem");
    tls.key_file = pki_->Path("client.key");
    return tls;
  }

  // Stops the server and returns everything it wrote to stderr.
  std::string StopServer() {
    auto code = server_->StopWith(SIGTERM);
    EXPECT_TRUE(code.ok()) << code.status();
    if (code.ok()) {
      EXPECT_EQ(*code, 0);
    }
    std::string text = server_->DrainStderr();
    server_.reset();
    return text;
  }

  void TearDown() override {
    if (server_ != nullptr) StopServer();
  }

  static Pki* pki_;
  static bool pki_ok_;
  std::unique_ptr<ServerProcess> server_;
};

Pki* SecurityTest::pki_ = nullptr;
bool SecurityTest::pki_ok_ = false;

std::vector<std::string> TlsFlags(const Pki& pki) {
  return {"--tls_cert_file=" + pki.Path("server.pem"),
          "--tls_key_file=" + pki.Path("server.key")};
}

TEST_F(SecurityTest, TlsCallsWorkWithTheCaAndPlaintextFails) {
  StartServer(TlsFlags(*pki_), Client(TrustingCa()));

  RelatedClient tls(Client(TrustingCa()));
  ASSERT_TRUE(tls.setup_status().ok()) << tls.setup_status();
  auto written = tls.Upsert(SomeArticles());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 3);
  auto related = tls.Related("story-0", 2);
  ASSERT_TRUE(related.ok()) << related.status();
  EXPECT_EQ(related->items.size(), 2u);

  // The same name the certificate has as a DNS entry.
  ClientTlsOptions by_name = TrustingCa();
  by_name.target_name_override = "localhost";
  EXPECT_TRUE(RelatedClient(Client(by_name)).Ping().ok());

  RelatedClient plaintext(Client(std::nullopt));
  EXPECT_EQ(plaintext.Ping().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(plaintext.GetStats().ok());

  // TLS, but trusting only the system's CAs: the handshake fails.
  RelatedClient system_roots(Client(ClientTlsOptions{}));
  EXPECT_EQ(system_roots.Ping().code(), absl::StatusCode::kUnavailable);

  // A name the certificate does not carry.
  ClientTlsOptions wrong_name = TrustingCa();
  wrong_name.target_name_override = "elsewhere.example.com";
  EXPECT_EQ(RelatedClient(Client(wrong_name)).Ping().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(SecurityTest, MutualTlsRefusesClientsWithoutACertificate) {
  std::vector<std::string> flags = TlsFlags(*pki_);
  flags.push_back("--tls_client_ca_file=" + pki_->Path("ca.pem"));
  StartServer(flags, Client(WithClientCert()));

  RelatedClient with_cert(Client(WithClientCert()));
  EXPECT_TRUE(with_cert.Ping().ok());
  EXPECT_TRUE(with_cert.Upsert(SomeArticles()).ok());

  RelatedClient without_cert(Client(TrustingCa()));
  EXPECT_FALSE(without_cert.Ping().ok());
  EXPECT_FALSE(without_cert.GetStats().ok());
  EXPECT_FALSE(without_cert.Upsert(SomeArticles()).ok());

  // The server's own certificate is not a client certificate.
  ClientTlsOptions wrong_use = TrustingCa();
  wrong_use.cert_file = pki_->Path("server.pem");
  wrong_use.key_file = pki_->Path("server.key");
  EXPECT_FALSE(RelatedClient(Client(wrong_use)).Ping().ok());
}

TEST_F(SecurityTest, WriteTokenProtectsWritesAndLeavesReadsOpen) {
  StartServer({"--write_token_file=" + pki_->Path("write.token")});

  RelatedClient anonymous(Client(std::nullopt));
  RelatedClient wrong(Client(std::nullopt, kWrongToken));
  RelatedClient writer(Client(std::nullopt, kWriteToken));

  EXPECT_EQ(anonymous.Upsert(SomeArticles()).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong.Upsert(SomeArticles()).status().code(),
            absl::StatusCode::kPermissionDenied);
  // A prefix of the right token is a wrong token.
  RelatedClient prefix(Client(std::nullopt, std::string(kWriteToken, 10)));
  EXPECT_EQ(prefix.Upsert(SomeArticles()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(anonymous.GetStats()->article_count, 0) << "nothing was written";

  auto written = writer.Upsert(SomeArticles());
  ASSERT_TRUE(written.ok()) << written.status();

  EXPECT_EQ(anonymous.Delete({"story-2"}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong.Delete({"story-2"}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(*writer.Delete({"story-2"}), 1);

  std::unique_ptr<client::Importer> import =
      wrong.StartImport(absl::Seconds(10));
  import->Send(SomeArticles()).IgnoreError();
  EXPECT_EQ(import->Finish().status().code(),
            absl::StatusCode::kPermissionDenied);
  import = writer.StartImport(absl::Seconds(10));
  ASSERT_TRUE(import->Send(SomeArticles()).ok());
  auto imported = import->Finish();
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->upserted, 3);

  // Reads, Ping and health need no token.
  EXPECT_TRUE(anonymous.Related("story-0", 2).ok());
  EXPECT_TRUE(anonymous.GetArticle("story-1").ok());
  EXPECT_EQ(anonymous.GetStats()->article_count, 3);
  EXPECT_TRUE(anonymous.Ping().ok());
  EXPECT_EQ(*anonymous.Health(), "SERVING");

  const std::string log = StopServer();
  EXPECT_THAT(log, HasSubstr("writes need a bearer token; reads open"));
  EXPECT_THAT(log, Not(HasSubstr(kWriteToken)));
  EXPECT_THAT(log, Not(HasSubstr(kWrongToken)));
}

TEST_F(SecurityTest, ReadTokenProtectsReadsAndTheWriteTokenAlsoReads) {
  // The write token from the environment, as a Kubernetes Secret made from
  // a file provides it: with the file's newline.
  setenv("RELATED_WRITE_TOKEN", absl::StrCat(kWriteToken, "\n").c_str(), 1);
  StartServer({"--read_token_file=" + pki_->Path("read.token")});
  unsetenv("RELATED_WRITE_TOKEN");

  RelatedClient anonymous(Client(std::nullopt));
  RelatedClient wrong(Client(std::nullopt, kWrongToken));
  RelatedClient reader(Client(std::nullopt, kReadToken));
  RelatedClient writer(Client(std::nullopt, kWriteToken));

  EXPECT_EQ(reader.Upsert(SomeArticles()).status().code(),
            absl::StatusCode::kPermissionDenied)
      << "the read token does not allow writes";
  ASSERT_TRUE(writer.Upsert(SomeArticles()).ok());

  EXPECT_EQ(anonymous.Related("story-0", 2).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous.BatchRelated({"story-0"}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous.SearchByVector({1, 0, 0, 0}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous.GetArticle("story-0").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous.GetStats().status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong.Related("story-0", 2).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(wrong.GetStats().status().code(),
            absl::StatusCode::kPermissionDenied);

  auto related = reader.Related("story-0", 2);
  ASSERT_TRUE(related.ok()) << related.status();
  EXPECT_EQ(related->items.size(), 2u);
  EXPECT_TRUE(reader.BatchRelated({"story-0"}).ok());
  EXPECT_TRUE(reader.SearchByVector({1, 0, 0, 0}).ok());
  EXPECT_TRUE(reader.GetArticle("story-0").ok());
  EXPECT_EQ(writer.GetStats()->article_count, 3);
  EXPECT_TRUE(writer.Related("story-0", 2).ok());

  EXPECT_TRUE(anonymous.Ping().ok());
  EXPECT_EQ(*anonymous.Health("related.v1.RelatedArticles"), "SERVING");

  const std::string log = StopServer();
  EXPECT_THAT(log, HasSubstr("writes need a bearer token; reads need a"));
  for (const char* token : {kWriteToken, kReadToken, kWrongToken}) {
    EXPECT_THAT(log, Not(HasSubstr(token)));
  }
}

TEST_F(SecurityTest, TlsAndTokensTogether) {
  std::vector<std::string> flags = TlsFlags(*pki_);
  flags.push_back("--tls_client_ca_file=" + pki_->Path("ca.pem"));
  flags.push_back("--write_token_file=" + pki_->Path("write.token"));
  StartServer(flags, Client(WithClientCert()));
  EXPECT_EQ(RelatedClient(Client(WithClientCert()))
                .Upsert(SomeArticles())
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(RelatedClient(Client(WithClientCert(), kWriteToken))
                  .Upsert(SomeArticles())
                  .ok());
  EXPECT_THAT(StopServer(),
              HasSubstr("grpc TLS with client certificates; writes need"));
}

// Kubernetes' gRPC probes speak neither TLS nor tokens: --health_address
// answers them in plaintext, and answers nothing but health.
TEST_F(SecurityTest, ThePlaintextHealthPortServesProbesAndNothingElse) {
  std::vector<std::string> flags = TlsFlags(*pki_);
  flags.push_back("--tls_client_ca_file=" + pki_->Path("ca.pem"));
  flags.push_back("--write_token_file=" + pki_->Path("write.token"));
  flags.push_back("--read_token_file=" + pki_->Path("read.token"));
  flags.push_back("--health_address=127.0.0.1:0");
  StartServer(flags, Client(WithClientCert(), kReadToken));
  ASSERT_FALSE(server_->health_address().empty());
  ClientOptions probe;
  probe.address = server_->health_address();
  probe.timeout = absl::Seconds(10);
  RelatedClient health(probe);
  EXPECT_TRUE(health.WaitUntilServing(absl::Seconds(10)).ok());
  EXPECT_EQ(health.GetStats().status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(health.Upsert(SomeArticles()).status().code(),
            absl::StatusCode::kUnimplemented);
  // The API port itself still wants TLS.
  ClientOptions plaintext = Client(std::nullopt, kReadToken);
  EXPECT_FALSE(RelatedClient(plaintext).GetStats().ok());
}

TEST_F(SecurityTest, BadSecurityFlagsAreOneLineErrorsWithExitCode2) {
  const std::string missing = pki_->Path("no-such.pem");
  WriteFile(pki_->Path("empty.token"), "\n");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert_file=" + pki_->Path("server.pem")},
       "--tls_cert_file and --tls_key_file must be given together"},
      {{"--tls_key_file=" + pki_->Path("server.key")},
       "--tls_cert_file and --tls_key_file must be given together"},
      {{"--tls_client_ca_file=" + pki_->Path("ca.pem")},
       "--tls_client_ca_file needs --tls_cert_file and --tls_key_file"},
      {{"--tls_cert_file=" + missing,
        "--tls_key_file=" + pki_->Path("server.key")},
       "--tls_cert_file: cannot read " + missing},
      {{"--tls_cert_file=" + pki_->Path("server.pem"),
        "--tls_key_file=" + missing},
       "--tls_key_file: cannot read " + missing},
      {{"--tls_cert_file=" + pki_->Path("server.key"),
        "--tls_key_file=" + pki_->Path("server.pem")},
       "holds no PEM certificate"},
      {{"--tls_cert_file=" + pki_->Path("server.pem"),
        "--tls_key_file=" + pki_->Path("server.key"),
        "--tls_client_ca_file=" + missing},
       "--tls_client_ca_file: cannot read " + missing},
      {{"--write_token_file=" + missing},
       "--write_token_file: cannot read token file " + missing},
      {{"--read_token_file=" + pki_->Path("empty.token")},
       "--read_token_file: token file " + pki_->Path("empty.token") +
           " is empty"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> flags = {"--grpc_address=127.0.0.1:0",
                                      "--metrics_address=127.0.0.1:0"};
    flags.insert(flags.end(), c.flags.begin(), c.flags.end());
    auto exit = ServerProcess::RunToExit(ServerBinary(), flags);
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(exit->code, 2) << c.message;
    EXPECT_THAT(exit->stderr_text, HasSubstr(c.message));
    EXPECT_EQ(
        std::count(exit->stderr_text.begin(), exit->stderr_text.end(), '\n'), 1)
        << exit->stderr_text;
  }
}

TEST_F(SecurityTest, CliSpeaksTlsAndSendsTheToken) {
  std::vector<std::string> flags = TlsFlags(*pki_);
  flags.push_back("--write_token_file=" + pki_->Path("write.token"));
  StartServer(flags, Client(TrustingCa()));
  const std::vector<std::string> tls = {
      "--address=" + server_->grpc_address(),
      "--tls_ca_file=" + pki_->Path("ca.pem")};
  auto Cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), tls.begin(), tls.end());
    auto exit = ServerProcess::RunToExit(RELATED_CLI_BINARY, args);
    EXPECT_TRUE(exit.ok()) << exit.status();
    return exit.ok() ? *exit : ServerProcess::Exit{-1, ""};
  };

  EXPECT_EQ(Cli({"stats"}).code, 0);
  auto refused = Cli({"delete", "story-0"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.stderr_text, HasSubstr("UNAUTHENTICATED"));
  auto deleted =
      Cli({"--token_file=" + pki_->Path("write.token"), "delete", "story-0"});
  EXPECT_EQ(deleted.code, 0) << deleted.stderr_text;
  setenv("RELATED_TOKEN", kWriteToken, 1);
  auto from_env = Cli({"delete", "story-0"});
  unsetenv("RELATED_TOKEN");
  EXPECT_EQ(from_env.code, 0) << from_env.stderr_text;
  auto wrong = Cli({"--token_file=" + pki_->Path("read.token"), "delete", "x"});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_THAT(wrong.stderr_text, HasSubstr("PERMISSION_DENIED"));
  auto unreadable =
      Cli({"--token_file=" + pki_->Path("no-such.token"), "ping"});
  EXPECT_EQ(unreadable.code, 2);
  EXPECT_THAT(unreadable.stderr_text, HasSubstr("--token_file: cannot read"));
}

}  // namespace
}  // namespace related
