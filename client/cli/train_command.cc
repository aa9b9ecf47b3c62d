// RunTrain (declared in commands.h): the `train` subcommand.
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/cli/commands.h"
#include "common/text/sif_training.h"
#include "nlohmann/json.hpp"

namespace related::cli {
namespace {

// The text an article is embedded from, as the server builds it: the title,
// then the text (or, in files such as AG News's, the body).
struct Corpus {
  std::vector<std::string> texts;
  int64_t lines = 0;
  int64_t skipped = 0;  // not JSON objects, or no text at all
};

std::string StringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

Corpus ReadCorpus(std::istream& in) {
  Corpus corpus;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++corpus.lines;
    const auto object = nlohmann::json::parse(line, nullptr, false);
    if (!object.is_object()) {
      ++corpus.skipped;
      continue;
    }
    std::string text = StringField(object, "text");
    if (text.empty()) text = StringField(object, "body");
    const std::string title = StringField(object, "title");
    if (text.empty() && title.empty()) {
      ++corpus.skipped;
      continue;
    }
    corpus.texts.push_back(title + "\n" + text);
  }
  return corpus;
}

}  // namespace

int RunTrain(std::istream& input, const TrainOptions& options,
             const Output& output) {
  const auto start = std::chrono::steady_clock::now();
  const Corpus corpus = ReadCorpus(input);
  output.err << absl::StrFormat(
      "training on %d articles (%d of %d lines skipped: no text or not "
      "JSON)\n",
      corpus.texts.size(), corpus.skipped, corpus.lines);
  text::TrainingOptions training;
  training.dimension = options.dimension;
  training.epochs = options.epochs;
  training.threads = options.threads;
  int shown = -1;
  training.progress = [&](const text::TrainingProgress& p) {
    const int percent = static_cast<int>(p.done * 100);
    if (percent / 5 == shown / 5) return;  // a line per 5%
    shown = percent;
    output.err << absl::StrFormat("  %3d%%  about %ds left\n", percent,
                                  p.eta_seconds);
    output.err.flush();
  };
  auto model = text::TrainSifModel(corpus.texts, training);
  if (!model.ok()) {
    output.err << "related-cli: train: " << model.status().message() << "\n";
    return kExitFailure;
  }
  if (absl::Status s = model->Save(options.out); !s.ok()) {
    output.err << "related-cli: train: " << s.message() << "\n";
    return kExitFailure;
  }
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  if (output.json) {
    output.out << nlohmann::json{{"model", model->identity()},
                                 {"file", options.out},
                                 {"dimension", model->dimension()},
                                 {"vocabulary", model->vocabulary_size()},
                                 {"articles", corpus.texts.size()},
                                 {"skipped_lines", corpus.skipped},
                                 {"seconds", seconds},
                                 {"description", model->description()}}
                      .dump()
               << "\n";
  } else {
    output.out << absl::StrFormat(
        "model %s written to %s: dimension %d, %d words, trained on %d "
        "articles in %.1f s\n%s\n",
        model->identity(), options.out, model->dimension(),
        model->vocabulary_size(), corpus.texts.size(), seconds,
        model->description());
  }
  return kExitOk;
}

}  // namespace related::cli
