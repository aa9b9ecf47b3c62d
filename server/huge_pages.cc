#include "server/huge_pages.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace related {
namespace {

constexpr char kTunable[] = "glibc.malloc.hugetlb";

// "always [madvise] never": the bracketed word is the mode in force.
bool KernelWantsMadvise() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(file, modes);
  return modes.find("[madvise]") != std::string::npos;
}

}  // namespace

void ReexecWithHugePages(char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const std::string current = tunables != nullptr ? tunables : "";
  // Set either way by the operator (or by the first execution): keep it.
  if (current.find(kTunable) != std::string::npos) return;
  if (!KernelWantsMadvise()) return;
  const std::string wanted =
      (current.empty() ? "" : current + ":") + kTunable + "=1";
  if (setenv("GLIBC_TUNABLES", wanted.c_str(), 1) != 0) return;
  // The binary's own path, not /proc/self/exe: the process keeps its name
  // (ps and top show "exe" otherwise).
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length > 0) {
    self[length] = '\0';
    execv(self, argv);
  }
  // Still here: exec failed (no /proc?). Run on with small pages.
  std::fprintf(stderr,
               "related-server: could not restart with huge pages; running "
               "without\n");
  unsetenv("GLIBC_TUNABLES");
  if (!current.empty()) setenv("GLIBC_TUNABLES", current.c_str(), 1);
}

}  // namespace related
