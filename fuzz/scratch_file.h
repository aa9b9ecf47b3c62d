// A file in a private temporary directory that a fuzzer rewrites with each
// input, for the storage readers, which take a path rather than bytes.
#ifndef RELATED_FUZZ_SCRATCH_FILE_H_
#define RELATED_FUZZ_SCRATCH_FILE_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace related::fuzz {

class ScratchFile {
 public:
  // `name` is the file's name inside the directory (the readers do not care,
  // but it keeps a left-over file recognisable).
  explicit ScratchFile(const std::string& name) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
        "/related-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir_ = pattern;
    path_ = dir_ + "/" + name;
  }
  ~ScratchFile() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  // Replaces the file's contents; aborts on I/O errors, which are the
  // harness's problem, not the code's under test.
  const std::string& Write(const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) ||
        std::fclose(f) != 0) {
      std::perror(path_.c_str());
      std::abort();
    }
    return path_;
  }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace related::fuzz

#endif  // RELATED_FUZZ_SCRATCH_FILE_H_
