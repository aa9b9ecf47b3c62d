// related-cli: the command-line client for people testing related-server.
// Flags -> RelatedClient -> one subcommand from commands.h.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/cli/lookup_flags.h"
#include "client/related_client.h"
#include "common/token_file.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50051",
          "host:port of related-server, or a gRPC target whose addresses "
          "take the calls in turn, e.g. dns:///host:port (every replica) or "
          "ipv4:10.0.0.1:50051,10.0.0.2:50051.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "Deadline of each call, e.g. 500ms or 5s. An import stream gets at "
          "least 10 minutes.");
ABSL_FLAG(bool, json, false, "Print one JSON document instead of text.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA certificates to verify the server with; turns TLS on.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM client certificate for a server that requires one (mutual "
          "TLS), with --tls_key_file; turns TLS on.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Check the server's certificate against this name instead of the "
          "host in --address.");
ABSL_FLAG(std::string, token_file, "",
          "File holding the bearer token to send (a trailing newline is "
          "ignored); unset: the RELATED_TOKEN environment variable.");
ABSL_FLAG(
    int, limit, 0,
    "related, batch, search, bench: how many related articles per query (0: "
    "the server's default).");
ABSL_FLAG(
    std::vector<std::string>, exclude, {},
    "related, batch, search, bench: comma-separated IDs that must not appear.");
// The editorial ranking policy of related, batch, search and bench. A flag
// left out is not sent, so the server's default applies (lookup_flags.h
// parses them).
ABSL_FLAG(
    std::string, sections, "",
    "related, batch, search, bench: only these sections, comma-separated.");
ABSL_FLAG(
    std::string, exclude_sections, "",
    "related, batch, search, bench: never these sections, comma-separated.");
ABSL_FLAG(
    std::string, languages, "",
    "related, batch, search, bench: only these languages, comma-separated.");
ABSL_FLAG(std::string, same_language, "",
          "related, batch: only the query article's language (true or "
          "false; the server's default is true).");
ABSL_FLAG(
    std::string, max_age, "",
    "related, batch, search, bench: only articles published within this long "
    "before now, e.g. 48h.");
ABSL_FLAG(
    std::string, published_after, "",
    "related, batch, search, bench: only articles published at or after this "
    "RFC 3339 time, e.g. 2026-11-01T00:00:00Z.");
ABSL_FLAG(
    std::string, published_before, "",
    "related, batch, search, bench: only articles published at or before this "
    "RFC 3339 time.");
ABSL_FLAG(
    std::string, require, "",
    "related, batch, search, bench: attributes an article must have, e.g. "
    "type=news,author=Ana.");
ABSL_FLAG(std::string, min_score, "",
          "related, batch, search, bench: the cosine similarity below which an "
          "article is not related, in [-1, 1].");
ABSL_FLAG(
    std::string, duplicate_threshold, "",
    "related, batch, search, bench: drop articles more similar than this to "
    "the query or to one already chosen (near-duplicates); 1 turns "
    "suppression off.");
ABSL_FLAG(std::string, diversity, "",
          "related, batch, search, bench: maximal marginal relevance lambda in "
          "[0, 1]; 1 ranks by relevance alone, lower values prefer articles "
          "unlike those already chosen.");
ABSL_FLAG(
    std::string, recency_half_life, "",
    "related, batch, search, bench: half-life of the recency boost, e.g. 24h.");
ABSL_FLAG(
    std::string, recency_weight, "",
    "related, batch, search, bench: weight of the recency boost in [0, 1] "
    "(0: off; needs a half-life).");
ABSL_FLAG(
    std::string, now, "",
    "related, batch, search, bench: the clock for --max_age and recency, RFC "
    "3339 (default: the server's clock).");
ABSL_FLAG(
    std::string, candidates, "",
    "related, batch, search, bench: how many of the most similar eligible "
    "articles are re-ranked (0: the server's default).");
ABSL_FLAG(
    bool, debug, false,
    "related, batch, search, bench: also print the policy the server applied "
    "and how many articles each rule removed.");
ABSL_FLAG(std::string, vector, "",
          "search: the query vector as comma-separated numbers.");
ABSL_FLAG(std::string, vector_file, "",
          "search: a file holding the query vector as a JSON array of "
          "numbers.");
ABSL_FLAG(bool, embedding, false,
          "get: also print the stored (normalised) embedding.");
ABSL_FLAG(int, batch_size, 500,
          "import: articles per batch on the import stream.");
ABSL_FLAG(std::string, out, "", "train: where to write the model file.");
ABSL_FLAG(int, dim, 100, "train: the model's dimension.");
ABSL_FLAG(int, epochs, 0,
          "train: passes over the corpus (0: by its size, 40 for a small "
          "one down to 2 for a large one).");
ABSL_FLAG(int, threads, 2, "train: training threads.");
ABSL_FLAG(std::string, ids_file, "",
          "bench: article IDs to query in turn, one per line or one JSON "
          "article per line (an import file); instead of IDs as arguments.");
ABSL_FLAG(int64_t, calls, 0,
          "bench: stop after this many calls (0: run for --duration).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "bench: stop starting calls after this long (default 10s, or no "
          "limit when --calls is given).");
ABSL_FLAG(int, concurrency, 4, "bench: calls in flight, one thread each.");
ABSL_FLAG(bool, ping, false,
          "bench: time Ping, the server's floor, instead of GetRelated.");
ABSL_FLAG(std::string, service, "",
          "health: the service to check; empty is the whole server, "
          "related.v1.RelatedArticles the API.");

namespace {

using related::cli::LookupOptions;
using related::cli::Output;
using related::client::RelatedClient;

constexpr absl::Duration kMinImportTimeout = absl::Minutes(10);
// One thread per call in flight; more than this is a typo, not a test.
constexpr int kMaxBenchConcurrency = 1000;
// bench keeps every call's latency (4 bytes): at most 40 MB by count, and
// an hour at 20k calls/s is about 290 MB.
constexpr int64_t kMaxBenchCalls = 10'000'000;
constexpr absl::Duration kMaxBenchDuration = absl::Hours(1);

// Flags every command accepts.
constexpr absl::string_view kGlobalFlags[] = {
    "address",         "timeout",       "json",
    "tls_ca_file",     "tls_cert_file", "tls_key_file",
    "tls_server_name", "token_file"};

// --limit, --exclude and the policy flags that were `given`; a flag whose
// text does not parse is INVALID_ARGUMENT.
absl::StatusOr<LookupOptions> LookupOptionsFromFlags(
    const std::set<std::string>& given) {
  LookupOptions options;
  options.limit = absl::GetFlag(FLAGS_limit);
  if (options.limit < 0) {
    return absl::InvalidArgumentError("--limit must not be negative");
  }
  options.exclude_ids = absl::GetFlag(FLAGS_exclude);
  std::map<std::string, std::string> policy_flags;
  for (absl::string_view name : related::cli::kPolicyFlags) {
    if (given.count(std::string(name)) > 0) {
      policy_flags[std::string(name)] =
          absl::FindCommandLineFlag(name)->CurrentValue();
    }
  }
  auto policy = related::cli::ParsePolicyFlags(policy_flags);
  if (!policy.ok()) return policy.status();
  options.policy = *std::move(policy);
  return options;
}

// The file at `path`, open for reading; INVALID_ARGUMENT saying why not
// (a directory, or the system's reason).
absl::StatusOr<std::ifstream> OpenFile(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read '", path, "': it is a directory"));
  }
  std::ifstream file(path);
  if (!file.is_open()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  return file;
}

// The query vector of `search`, from exactly one of --vector and
// --vector_file.
absl::StatusOr<std::vector<float>> SearchVectorFromFlags(
    const std::set<std::string>& given) {
  const bool text = given.count("vector") > 0;
  if (text == (given.count("vector_file") > 0)) {
    return absl::InvalidArgumentError(
        "search needs exactly one of --vector and --vector_file");
  }
  if (text) return related::cli::ParseVectorText(absl::GetFlag(FLAGS_vector));
  auto file = OpenFile(absl::GetFlag(FLAGS_vector_file));
  if (!file.ok()) return file.status();
  std::stringstream content;
  content << file->rdbuf();
  return related::cli::ParseVectorJson(content.str());
}

// Runs `read` on the file at `path` ("-": standard input); kExitUsage if
// it cannot be opened.
int WithInputFile(const std::string& path, const Output& output,
                  const std::function<int(std::istream&)>& read) {
  if (path == "-") return read(std::cin);
  auto file = OpenFile(path);
  if (!file.ok()) {
    output.err << "related-cli: " << file.status().message() << "\n";
    return related::cli::kExitUsage;
  }
  return read(*file);
}

// --- The commands ------------------------------------------------------------
//
// Each command's Prepare function reads its arguments (their number already
// checked) and its own flags, and returns what to run once the client is
// set up. A flag value that does not parse is INVALID_ARGUMENT, reported as
// a usage error before any connection is made.

using Action = std::function<int(RelatedClient& client, const Output& output)>;
using Args = std::vector<std::string>;
using GivenFlags = std::set<std::string>;

absl::StatusOr<Action> PrepareRelated(const Args& args,
                                      const GivenFlags& given) {
  auto lookup = LookupOptionsFromFlags(given);
  if (!lookup.ok()) return lookup.status();
  return Action([id = args[0], lookup = *std::move(lookup)](
                    RelatedClient& client, const Output& output) {
    return related::cli::RunRelated(client, id, lookup, output);
  });
}

absl::StatusOr<Action> PrepareBatch(const Args& args, const GivenFlags& given) {
  auto lookup = LookupOptionsFromFlags(given);
  if (!lookup.ok()) return lookup.status();
  return Action([ids = args, lookup = *std::move(lookup)](
                    RelatedClient& client, const Output& output) {
    return related::cli::RunBatch(client, ids, lookup, output);
  });
}

absl::StatusOr<Action> PrepareSearch(const Args&, const GivenFlags& given) {
  auto lookup = LookupOptionsFromFlags(given);
  if (!lookup.ok()) return lookup.status();
  auto vector = SearchVectorFromFlags(given);
  if (!vector.ok()) return vector.status();
  return Action([vector = *std::move(vector), lookup = *std::move(lookup)](
                    RelatedClient& client, const Output& output) {
    return related::cli::RunSearch(client, vector, lookup, output);
  });
}

absl::StatusOr<Action> PrepareGet(const Args& args, const GivenFlags&) {
  return Action([id = args[0], embedding = absl::GetFlag(FLAGS_embedding)](
                    RelatedClient& client, const Output& output) {
    return related::cli::RunGet(client, id, embedding, output);
  });
}

absl::StatusOr<Action> PrepareImport(const Args& args, const GivenFlags&) {
  related::cli::ImportOptions options;
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError("--batch_size must be at least 1");
  }
  options.stream_timeout =
      std::max(absl::GetFlag(FLAGS_timeout), kMinImportTimeout);
  options.show_progress = isatty(STDERR_FILENO);
  return Action(
      [path = args[0], options](RelatedClient& client, const Output& output) {
        return WithInputFile(path, output, [&](std::istream& in) {
          return related::cli::RunImport(client, in, options, output);
        });
      });
}

absl::StatusOr<Action> PrepareTrain(const Args& args, const GivenFlags&) {
  related::cli::TrainOptions options;
  options.out = absl::GetFlag(FLAGS_out);
  options.dimension = absl::GetFlag(FLAGS_dim);
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.threads = absl::GetFlag(FLAGS_threads);
  if (options.out.empty()) {
    return absl::InvalidArgumentError("train needs --out=MODEL_FILE");
  }
  if (options.dimension < 1 || options.dimension > 1024 || options.epochs < 0 ||
      options.threads < 1) {
    return absl::InvalidArgumentError(
        "--dim must be in [1, 1024], --epochs >= 0, --threads >= 1");
  }
  // No server is needed: the client is never used.
  return Action(
      [path = args[0], options](RelatedClient&, const Output& output) {
        return WithInputFile(path, output, [&](std::istream& in) {
          return related::cli::RunTrain(in, options, output);
        });
      });
}

// The article IDs `bench` queries: its arguments or --ids_file.
absl::StatusOr<std::vector<std::string>> BenchIds(const Args& args,
                                                  const GivenFlags& given) {
  if (given.count("ids_file") == 0) return args;
  if (!args.empty()) {
    return absl::InvalidArgumentError(
        "bench takes article IDs as arguments or --ids_file, not both");
  }
  const std::string path = absl::GetFlag(FLAGS_ids_file);
  auto file = OpenFile(path);
  if (!file.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ids_file: ", file.status().message()));
  }
  auto ids = related::cli::ReadArticleIds(*file);
  if (!ids.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ids_file '", path, "': ", ids.status().message()));
  }
  return ids;
}

absl::StatusOr<Action> PrepareBench(const Args& args, const GivenFlags& given) {
  related::cli::BenchOptions options;
  options.ping = absl::GetFlag(FLAGS_ping);
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.calls = absl::GetFlag(FLAGS_calls);
  options.duration = absl::GetFlag(FLAGS_duration);
  if (options.calls > 0 && given.count("duration") == 0) {
    options.duration = absl::InfiniteDuration();
  }
  if (options.concurrency < 1 || options.concurrency > kMaxBenchConcurrency) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--concurrency must be in [1, ", kMaxBenchConcurrency, "]"));
  }
  if (options.calls < 0 || options.calls > kMaxBenchCalls ||
      options.duration <= absl::ZeroDuration() ||
      (options.duration > kMaxBenchDuration &&
       options.duration != absl::InfiniteDuration())) {
    return absl::InvalidArgumentError(
        absl::StrCat("--calls must be in [0, ", kMaxBenchCalls,
                     "] and --duration in (0, 1h]"));
  }
  auto ids = BenchIds(args, given);
  if (!ids.ok()) return ids.status();
  options.article_ids = *std::move(ids);
  if (options.ping != options.article_ids.empty()) {
    return absl::InvalidArgumentError(
        options.ping ? "bench --ping takes no article IDs"
                     : "bench needs article IDs (arguments or --ids_file), "
                       "or --ping");
  }
  auto lookup = LookupOptionsFromFlags(given);
  if (!lookup.ok()) return lookup.status();
  options.lookup = *std::move(lookup);
  return Action([options = std::move(options)](RelatedClient& client,
                                               const Output& output) {
    return related::cli::RunBench(client, options, output);
  });
}

absl::StatusOr<Action> PrepareDelete(const Args& args, const GivenFlags&) {
  return Action([ids = args](RelatedClient& client, const Output& output) {
    return related::cli::RunDelete(client, ids, output);
  });
}

absl::StatusOr<Action> PrepareStats(const Args&, const GivenFlags&) {
  return Action(related::cli::RunStats);
}

absl::StatusOr<Action> PrepareHealth(const Args&, const GivenFlags&) {
  return Action([service = absl::GetFlag(FLAGS_service)](RelatedClient& client,
                                                         const Output& output) {
    return related::cli::RunHealth(client, service, output);
  });
}

absl::StatusOr<Action> PreparePing(const Args&, const GivenFlags&) {
  return Action(related::cli::RunPing);
}

// How many arguments a command takes.
struct Arity {
  size_t min;
  size_t max;
};
constexpr Arity kNoArgs{0, 0};
constexpr Arity kOneArg{1, 1};
constexpr Arity kOneOrMoreArgs{1, static_cast<size_t>(-1)};
constexpr Arity kAnyArgs{0, static_cast<size_t>(-1)};

struct Command {
  const char* name;
  const char* synopsis;  // the command line, after "related-cli"
  const char* purpose;
  Arity arity;
  // The command-specific flags it reads; kGlobalFlags apply to every
  // command.
  std::vector<std::string> flags;
  absl::StatusOr<Action> (*prepare)(const Args& args, const GivenFlags& given);
};

// Flag names, written space-separated.
std::vector<std::string> Flags(absl::string_view names) {
  return absl::StrSplit(names, ' ', absl::SkipEmpty());
}

// The flags of related, batch and search: --limit, --exclude, the policy
// flags, and `extra`.
std::vector<std::string> LookupFlags(absl::string_view extra = "") {
  std::vector<std::string> flags = Flags(extra);
  flags.insert(flags.end(), {"limit", "exclude"});
  for (absl::string_view flag : related::cli::kPolicyFlags) {
    flags.emplace_back(flag);
  }
  return flags;
}

// Every command, once. --help lists them in this order; the command line is
// checked against and dispatched through this table.
const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"related", "related <id> [--limit=N] [--exclude=id1,id2] [policy flags]",
       "the related articles, best first", kOneArg, LookupFlags(),
       PrepareRelated},
      {"batch",
       "batch <id> <id>... [--limit=N] [--exclude=id1,id2] [policy flags]",
       "related articles for several IDs in one call", kOneOrMoreArgs,
       LookupFlags(), PrepareBatch},
      {"search",
       "search --vector=0.1,0.2,... | --vector_file=FILE [--limit=N] "
       "[--exclude=id1,id2] [policy flags]",
       "related articles for a vector that is not stored (a draft's)", kNoArgs,
       LookupFlags("vector vector_file"), PrepareSearch},
      {"get", "get <id> [--embedding]", "one stored article", kOneArg,
       Flags("embedding"), PrepareGet},
      {"import", "import <file.jsonl | -> [--batch_size=500]",
       "bulk import, one JSON article per line", kOneArg, Flags("batch_size"),
       PrepareImport},
      {"train",
       "train <corpus.jsonl | -> --out=MODEL [--dim=100] [--epochs=N] "
       "[--threads=2]",
       "train a text embedder model for --embedder_model", kOneArg,
       Flags("out dim epochs threads"), PrepareTrain},
      {"delete", "delete <id> [<id>...]", "delete articles", kOneOrMoreArgs,
       Flags(""), PrepareDelete},
      {"bench",
       "bench <id>... | --ids_file=FILE | --ping [--concurrency=4] "
       "[--duration=10s | --calls=N] [--limit=N] [policy flags]",
       "calls/s and latency percentiles of GetRelated (or Ping) under load",
       kAnyArgs, LookupFlags("ids_file calls duration concurrency ping"),
       PrepareBench},
      {"stats", "stats", "size and configuration of the index", kNoArgs,
       Flags(""), PrepareStats},
      {"health", "health [--service=NAME]",
       "health check; exit 0 only if SERVING", kNoArgs, Flags("service"),
       PrepareHealth},
      {"ping", "ping", "one round trip to the server", kNoArgs, Flags(""),
       PreparePing}};
  return *commands;
}

// nullptr if `name` is no command.
const Command* FindCommand(absl::string_view name) {
  for (const Command& command : Commands()) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

// INVALID_ARGUMENT if the number of `args` or a flag `given` does not fit
// `command`.
absl::Status CheckUse(const Command& command, const Args& args,
                      const GivenFlags& given) {
  if (args.size() < command.arity.min || args.size() > command.arity.max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wrong number of arguments; usage: related-cli ", command.synopsis));
  }
  for (const std::string& flag : given) {
    if (!absl::c_linear_search(kGlobalFlags, flag) &&
        !absl::c_linear_search(command.flags, flag)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " does not apply to '", command.name, "'"));
    }
  }
  return absl::OkStatus();
}

// TLS and the bearer token from --tls_* and --token_file (or RELATED_TOKEN).
absl::Status SecurityFromFlags(related::client::ClientOptions& options) {
  related::client::ClientTlsOptions tls;
  tls.root_ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  tls.target_name_override = absl::GetFlag(FLAGS_tls_server_name);
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file must be given together");
  }
  if (!tls.root_ca_file.empty() || !tls.cert_file.empty()) {
    options.tls = tls;
  } else if (!tls.target_name_override.empty()) {
    return absl::InvalidArgumentError(
        "--tls_server_name needs --tls_ca_file or --tls_cert_file");
  }
  auto token =
      related::LoadToken(absl::GetFlag(FLAGS_token_file), "RELATED_TOKEN");
  if (!token.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token_file: ", token.status().message()));
  }
  options.bearer_token = *std::move(token);
  return absl::OkStatus();
}

std::string UsageText() {
  std::string text =
      "the command-line client for related-server.\n\n"
      "Usage: related-cli [--address=127.0.0.1:50051] [--timeout=5s] [--json] "
      "<command> [args]\n"
      "Security: [--tls_ca_file=F] [--tls_cert_file=F --tls_key_file=F] "
      "[--tls_server_name=N] [--token_file=F | env RELATED_TOKEN]\n"
      "Flags may also come after the command; use -- before an ID that starts "
      "with '-'.\n\nCommands:\n";
  for (const Command& command : Commands()) {
    absl::StrAppend(&text, "  ", command.synopsis, "\n      ", command.purpose,
                    "\n");
  }
  absl::StrAppend(
      &text,
      "\nPolicy flags (related, batch, search, bench; one left out takes the "
      "server's default):\n"
      "  --sections --exclude_sections --languages --max_age "
      "--published_after\n"
      "  --published_before --require --min_score --duplicate_threshold "
      "--diversity\n"
      "  --recency_half_life --recency_weight --now --candidates --debug\n");
  absl::StrAppend(
      &text,
      "\nExit codes:\n"
      "  0  success\n"
      "  1  an RPC failed; also: health not SERVING, an item of batch or a "
      "call of bench failed\n"
      "  2  usage error, or an import file that cannot be opened\n"
      "  3  import skipped bad lines (reported on stderr) but imported the "
      "rest\n");
  return text;
}

// Prints `message` and, for a mistake about which command to run, the list
// of commands; returns the usage exit code.
int UsageError(absl::string_view message, bool list_commands = false) {
  std::cerr << "related-cli: " << message << "\n";
  if (list_commands) {
    std::cerr << "\nrelated-cli: " << UsageText();
  } else {
    std::cerr << "Run 'related-cli --help' for the commands and flags.\n";
  }
  return related::cli::kExitUsage;
}

constexpr absl::string_view kAbslOwnFlags[] = {
    "help",     "helpfull",        "helpshort",  "helppackage",
    "version",  "only_check_args", "helpon",     "helpmatch",
    "flagfile", "fromenv",         "tryfromenv", "undefok"};

// absl::ParseCommandLine exits with status 1 on an unknown flag or a bad
// value, but 1 tells scripts that an RPC failed. So check the flags first,
// the way absl will parse them, and let such mistakes be usage errors (2).
// Checking a value sets the flag, to what ParseCommandLine then sets again.
// Returns the names of the CLI's own flags that were given.
absl::StatusOr<std::set<std::string>> CheckFlags(int argc, char** argv) {
  std::set<std::string> given;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    // A positional argument, or "-" (stdin for import).
    if (arg.size() < 2 || arg[0] != '-') continue;
    arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
    const size_t equals = arg.find('=');
    const absl::string_view name = arg.substr(0, equals);
    bool has_value = equals != absl::string_view::npos;
    std::string value = has_value ? std::string(arg.substr(equals + 1)) : "";
    // Left to absl: its usage flags (--help, --version, ...) are not in the
    // flag registry, and --flagfile and friends act on parsing.
    if (absl::c_linear_search(kAbslOwnFlags, name)) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && !flag->IsOfType<bool>()) flag = nullptr;
      has_value = flag != nullptr;
      value = "false";
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", error));
    }
    if (absl::EndsWith(flag->Filename(), "cli/main.cc")) {
      given.insert(std::string(flag->Name()));
    }
  }
  return given;
}

// Titles are cut to the terminal's width; output to a pipe is not cut unless
// $COLUMNS asks for it.
int TerminalColumns() {
  winsize size = {};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 &&
      size.ws_col > 0) {
    return size.ws_col;
  }
  int columns = 0;
  const char* env = std::getenv("COLUMNS");
  if (env != nullptr && absl::SimpleAtoi(env, &columns) && columns > 0) {
    return columns;
  }
  return isatty(STDOUT_FILENO) ? 80 : 0;
}

// The address, deadline and security of the connection, from the flags that
// apply to every command.
absl::StatusOr<related::client::ClientOptions> ClientOptionsFromFlags() {
  related::client::ClientOptions options;
  options.address = absl::GetFlag(FLAGS_address);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout must be positive");
  }
  if (absl::Status s = SecurityFromFlags(options); !s.ok()) return s;
  return options;
}

void ConfigureUsage() {
  absl::SetProgramUsageMessage(UsageText());
  // --help lists the flags defined here (absl's default looks for a file
  // named after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "cli/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
}

}  // namespace

int main(int argc, char** argv) {
  ConfigureUsage();
  auto given_flags = CheckFlags(argc, argv);
  if (!given_flags.ok()) return UsageError(given_flags.status().message());
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return UsageError("no command given", true);

  const std::string name = positional[1];
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command '", name, "'"), true);
  }
  const Args args(positional.begin() + 2, positional.end());
  if (absl::Status s = CheckUse(*command, args, *given_flags); !s.ok()) {
    return UsageError(s.message());
  }
  auto options = ClientOptionsFromFlags();
  if (!options.ok()) return UsageError(options.status().message());
  auto action = command->prepare(args, *given_flags);
  if (!action.ok()) return UsageError(action.status().message());

  RelatedClient client(*options);
  if (!client.setup_status().ok()) {
    return UsageError(client.setup_status().message());
  }
  const Output output{std::cout, std::cerr, absl::GetFlag(FLAGS_json),
                      TerminalColumns()};
  return (*action)(client, output);
}
