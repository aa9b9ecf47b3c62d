#include "server/core/storage/embedder_identity.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/core/storage/file.h"

namespace related::storage {
namespace {

constexpr absl::string_view kFileName = "EMBEDDER";

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

absl::Status Record(const std::string& data_dir, const std::string& identity) {
  const std::string path = absl::StrCat(data_dir, "/", kFileName);
  const std::string tmp = path + ".tmp";
  auto file = File::Create(tmp);
  if (!file.ok()) return file.status();
  absl::Status s = file->Write(identity + "\n");
  if (s.ok()) s = file->Sync();
  if (s.ok()) s = RenameFile(tmp, path);
  if (s.ok()) s = SyncDir(data_dir);
  return s;
}

}  // namespace

absl::Status CheckEmbedderIdentity(const std::string& data_dir,
                                   const std::string& identity) {
  const std::string path = absl::StrCat(data_dir, "/", kFileName);
  if (!Exists(path)) {
    return identity.empty() ? absl::OkStatus() : Record(data_dir, identity);
  }
  auto recorded = ReadWholeFile(path);
  if (!recorded.ok()) return recorded.status();
  const std::string stored(absl::StripAsciiWhitespace(*recorded));
  if (stored == identity) return absl::OkStatus();
  if (identity.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        data_dir, " holds vectors of embedder model ", stored,
        ", and this server has no model: start it with --embedder_model set "
        "to that model's file (vectors of different models cannot be "
        "compared)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      data_dir, " holds vectors of embedder model ", stored,
      ", not of --embedder_model's ", identity,
      ": vectors of different models cannot be compared. Start with the "
      "model file of ", stored,
      ", or re-import the articles into a new --data_dir to use the new "
      "model (docs/text.md)"));
}

}  // namespace related::storage
