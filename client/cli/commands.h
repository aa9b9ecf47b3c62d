// The subcommands of related-cli, one function each. Every function takes the
// client, its parsed arguments and where to write, prints the result (text
// or JSON) and returns the process exit code. main.cc only parses flags and
// dispatches here.
#ifndef RELATED_CLIENT_CLI_COMMANDS_H_
#define RELATED_CLIENT_CLI_COMMANDS_H_

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/related_client.h"

namespace related::cli {

// Exit codes, part of the CLI's contract with scripts.
inline constexpr int kExitOk = 0;
// An RPC failed; also: health is not SERVING, an item of `batch` or a call
// of `bench` failed.
inline constexpr int kExitFailure = 1;
// Bad command line, or an import file that cannot be opened.
inline constexpr int kExitUsage = 2;
// `import` skipped bad lines but imported all the others.
inline constexpr int kExitSkippedLines = 3;

// Where and how a command writes.
struct Output {
  std::ostream& out;  // results
  std::ostream& err;  // errors, bad import lines, import progress
  bool json = false;  // one JSON document on `out` instead of text
  // Width for tables; 0 means no limit (e.g. output to a pipe).
  int terminal_columns = 0;
};

// Writes "related-cli: <CODE_NAME>: <message>" to `err`, e.g.
// "related-cli: NOT_FOUND: article 'x' not found"; returns kExitFailure.
int ReportRpcError(const absl::Status& status, std::ostream& err);

// What `related`, `batch` and `search` send besides their query.
struct LookupOptions {
  int limit = 0;  // 0: the server's default
  std::vector<std::string> exclude_ids;
  // Unset controls take the server's defaults. With policy.debug, the
  // applied policy and removal counts are printed after each table (see
  // DebugLines), or added as "debug" (see DebugJson) to the JSON.
  client::RankingPolicy policy;
};

// `related <id>`: the related articles as a table, or
// {"article_id": ..., "related": [...]} (plus "debug" when asked for).
int RunRelated(client::RelatedClient& client, const std::string& article_id,
               const LookupOptions& options, const Output& output);

// `batch <id>...`: one BatchGetRelated call, results grouped per ID with
// per-item errors shown. kExitFailure if any item failed.
int RunBatch(client::RelatedClient& client,
             const std::vector<std::string>& article_ids,
             const LookupOptions& options, const Output& output);

// `search --vector=...`: the related articles for a vector that is not
// stored (a draft's), as `related` prints them; {"related": [...]} in JSON.
int RunSearch(client::RelatedClient& client,
              const std::vector<float>& embedding, const LookupOptions& options,
              const Output& output);

// `get <id>`: the stored article as "key: value" lines or JSON.
int RunGet(client::RelatedClient& client, const std::string& article_id,
           bool include_embedding, const Output& output);

struct ImportOptions {
  // Articles per batch; lowered to the server's max_batch_size if above it.
  int batch_size = 500;
  // Deadline of the whole import stream.
  absl::Duration stream_timeout = absl::Minutes(10);
  // Rewrite one progress line on `err` after every batch (for a terminal).
  bool show_progress = false;
};

// `import <file.jsonl>`: reads `input` line by line (format: jsonl_import.h)
// and streams the valid articles to the server in one ImportArticles call.
// Each bad line is reported on `err` as "line N: <field>: <what is wrong>"
// and skipped. Prints "imported N articles in B batches, skipped M bad lines,
// X articles/s" (or JSON). Returns kExitOk, kExitSkippedLines, or
// kExitFailure if an RPC failed (batches sent before the failure stay
// imported). Implemented in import_command.cc.
int RunImport(client::RelatedClient& client, std::istream& input,
              const ImportOptions& options, const Output& output);

// `delete <id>...`: prints "deleted N of M".
int RunDelete(client::RelatedClient& client,
              const std::vector<std::string>& article_ids,
              const Output& output);

// `stats`: "key: value" lines or JSON.
int RunStats(client::RelatedClient& client, const Output& output);

// `health`: prints the serving status of `service` ("" is the whole server);
// kExitOk only if it is SERVING.
int RunHealth(client::RelatedClient& client, const std::string& service,
              const Output& output);

// `ping`: calls Ping and prints how long one round trip took, not counting
// the connection set-up.
int RunPing(client::RelatedClient& client, const Output& output);

// What `bench` is given.
struct BenchOptions {
  // Queried in turn (call n asks for article_ids[n % size]); empty with
  // `ping`.
  std::vector<std::string> article_ids;
  bool ping = false;    // time Ping (the server's floor) instead of GetRelated
  int concurrency = 4;  // calls in flight, each from a thread of its own
  int64_t calls = 0;    // stop after this many calls; 0: no count limit
  // Stop starting calls after this long; InfiniteDuration: no time limit
  // (then `calls` bounds the run).
  absl::Duration duration = absl::Seconds(10);
  LookupOptions lookup;  // sent with every GetRelated
};

// `bench <id>...`: calls GetRelated (or Ping) from `concurrency` threads
// over the client's channel (one connection per server address) until
// `calls` or `duration` is reached, then prints calls/s and the latency of
// the calls that succeeded (mean, p50, p90, p99, max; as the client library
// sees them, response parsing included) and the failures by status code,
// with one failure's message. A first Ping opens the connection outside the
// measurement. kExitFailure if any call failed. Implemented in
// bench_command.cc.
int RunBench(client::RelatedClient& client, const BenchOptions& options,
             const Output& output);

// Article IDs for `bench --ids_file`: one per line, or one JSON article per
// line (its "id" field, so an import file serves as it is). Blank lines are
// skipped. INVALID_ARGUMENT naming the line if one has no ID, or if there
// are none at all.
absl::StatusOr<std::vector<std::string>> ReadArticleIds(std::istream& input);

// What `train` is given.
struct TrainOptions {
  std::string out;  // where the model is written
  int dimension = 100;
  int epochs = 0;  // 0: by corpus size
  int threads = 2;
};

// `train <corpus.jsonl>`: trains a text embedder model (common/text) on the
// corpus's articles (title and text, or body) and writes it to options.out,
// for related-server --embedder_model. No server is involved. Progress goes
// to `err`; the result ("model sif-... written to ...") to `out`. Lines
// without text are skipped and counted. Implemented in train_command.cc.
int RunTrain(std::istream& corpus, const TrainOptions& options,
             const Output& output);

}  // namespace related::cli

#endif  // RELATED_CLIENT_CLI_COMMANDS_H_
