// RunImport (declared in commands.h): the `import` subcommand.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/cli/commands.h"
#include "client/cli/import_batcher.h"
#include "client/cli/jsonl_import.h"
#include "client/cli/output.h"
#include "nlohmann/json.hpp"

namespace related::cli {
namespace {

// One line on a terminal, rewritten in place after every batch. Anything else
// written to the same stream must call Interrupt() first so that it starts on
// a line of its own.
class ProgressLine {
 public:
  ProgressLine(std::ostream& err, bool enabled)
      : err_(err), enabled_(enabled) {}

  void Update(int64_t batches, int64_t articles, int64_t line_number) {
    if (!enabled_) return;
    err_ << absl::StrFormat("\rsent %d batches, %d articles (line %d)", batches,
                            articles, line_number)
         << std::flush;
    active_ = true;
  }

  void Interrupt() {
    if (active_) err_ << "\n";
    active_ = false;
  }

 private:
  std::ostream& err_;
  const bool enabled_;
  bool active_ = false;
};

}  // namespace

int RunImport(client::RelatedClient& client, std::istream& input,
              const ImportOptions& options, const Output& output) {
  auto stats = client.GetStats();
  if (!stats.ok()) return ReportRpcError(stats.status(), output.err);
  // dimension 0: the server has none yet, so the first valid line sets it.
  ImportLimits limits{stats->dimension, stats->max_id_bytes};
  int batch_size = options.batch_size;
  if (stats->max_batch_size > 0 && batch_size > stats->max_batch_size) {
    output.err << "related-cli: --batch_size=" << batch_size
               << " is above the server's max_batch_size; using "
               << stats->max_batch_size << "\n";
    batch_size = stats->max_batch_size;
  }

  const absl::Time start = absl::Now();
  std::unique_ptr<client::Importer> importer =
      client.StartImport(options.stream_timeout);
  ImportBatcher batcher(batch_size);
  ProgressLine progress(output.err, options.show_progress);
  int64_t line_number = 0;
  int64_t skipped = 0;
  int64_t sent_batches = 0;
  int64_t sent_articles = 0;
  absl::Status send_status;
  const auto send = [&](const std::vector<client::Article>& batch) {
    send_status = importer->Send(batch);
    if (!send_status.ok()) return;
    ++sent_batches;
    sent_articles += static_cast<int64_t>(batch.size());
    progress.Update(sent_batches, sent_articles, line_number);
  };

  std::string line;
  // A failed Send means the server ended the stream; Finish says why.
  while (send_status.ok() && std::getline(input, line)) {
    ++line_number;
    if (IsBlankLine(line)) continue;
    auto article = ParseArticleLine(line, limits);
    if (!article.ok()) {
      progress.Interrupt();
      output.err << "line " << line_number << ": " << article.status().message()
                 << "\n";
      ++skipped;
      continue;
    }
    if (limits.dimension == 0) {
      limits.dimension = static_cast<int>(article->embedding.size());
    }
    if (auto batch = batcher.Add(*std::move(article)); batch.has_value()) {
      send(*batch);
    }
  }
  const bool read_failed = input.bad();
  if (send_status.ok() && !read_failed) {
    std::vector<client::Article> rest = batcher.TakeRest();
    if (!rest.empty()) send(rest);
  }
  // Finish also when reading failed: what was sent is applied either way,
  // and the stream must be closed.
  auto summary = importer->Finish();
  progress.Interrupt();
  absl::Status stream_status = summary.ok() ? send_status : summary.status();
  if (!stream_status.ok()) {
    ReportRpcError(stream_status, output.err);
    output.err << "related-cli: the import stopped at line " << line_number
               << ", after " << sent_batches << " batches (" << sent_articles
               << " articles) had been sent; the batches the server applied "
                  "before the error stay imported\n";
    return kExitFailure;
  }
  if (read_failed) {
    output.err << "related-cli: reading the input failed after line "
               << line_number << " (" << summary->upserted
               << " articles were imported)\n";
    return kExitFailure;
  }

  const double seconds =
      std::max(absl::ToDoubleSeconds(absl::Now() - start), 1e-6);
  const double rate = static_cast<double>(summary->upserted) / seconds;
  if (output.json) {
    output.out << DumpJson({{"imported", summary->upserted},
                            {"batches", summary->batches},
                            {"skipped", skipped},
                            {"seconds", seconds},
                            {"articles_per_second", rate}})
               << "\n";
  } else {
    output.out << absl::StrFormat(
        "imported %d articles in %d batches, skipped %d bad lines, %.0f "
        "articles/s\n",
        summary->upserted, summary->batches, skipped, rate);
  }
  return skipped > 0 ? kExitSkippedLines : kExitOk;
}

}  // namespace related::cli
