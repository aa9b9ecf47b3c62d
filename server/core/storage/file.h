// Thin POSIX file helpers that report errors as statuses with the path and
// the system's reason. Disk full maps to RESOURCE_EXHAUSTED, every other
// write failure (read-only file system, I/O error, permissions) to
// UNAVAILABLE: the caller may retry once the condition clears.
#ifndef RELATED_SERVER_CORE_STORAGE_FILE_H_
#define RELATED_SERVER_CORE_STORAGE_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace related::storage {

// A status for a failed system call on `path` (errno taken from the call).
absl::Status ErrnoStatus(int error, absl::string_view what,
                         absl::string_view path);

// An open file descriptor, closed on destruction.
class File {
 public:
  // Opens for appending, creating the file if needed.
  static absl::StatusOr<File> OpenForAppend(const std::string& path);
  // Creates (or truncates) for writing.
  static absl::StatusOr<File> Create(const std::string& path);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  ~File();

  // Writes all of `data`; on failure some of it may have been written.
  absl::Status Write(absl::string_view data);
  // Writes `data` at `offset`, leaving the write position as it was.
  absl::Status WriteAt(int64_t offset, absl::string_view data);
  absl::Status Sync();  // fdatasync
  // Cuts the file to `size` and moves the write position there.
  absl::Status Truncate(int64_t size);
  absl::StatusOr<int64_t> Size() const;
  const std::string& path() const { return path_; }

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// Reads a file front to back through a buffer; a large read goes straight
// into the caller's memory (no second copy of it is ever held).
class FileReader {
 public:
  static absl::StatusOr<FileReader> Open(const std::string& path);

  FileReader(FileReader&& other) noexcept;
  FileReader& operator=(FileReader&&) = delete;
  ~FileReader();

  // Reads exactly `size` bytes; DATA_LOSS if the file ends first.
  absl::Status Read(void* data, size_t size);
  absl::Status Skip(uint64_t size);
  // Bytes not read yet.
  uint64_t remaining() const { return size_ - position_; }
  const std::string& path() const { return path_; }

 private:
  FileReader(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  // Reads into `data` from the file itself (not the buffer).
  absl::Status ReadDirect(char* data, size_t size);

  int fd_ = -1;
  std::string path_;
  uint64_t size_ = 0;
  uint64_t position_ = 0;  // of the caller, in the file
  std::string buffer_;
  size_t buffered_from_ = 0;  // the unread part of buffer_ starts here
};
// Names (not paths) of the entries of `dir`.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);
// Creates `dir` if it is missing (one level).
absl::Status EnsureDir(const std::string& dir);
// An exclusive lock on a data directory, held while this object lives (an
// OS lock, flock, on the file `LOCK` in it: released by the kernel when the
// process ends, however it ends).
class DirectoryLock {
 public:
  // FAILED_PRECONDITION naming the directory (and the holder's pid, which
  // the file records) if another process holds it.
  static absl::StatusOr<DirectoryLock> Acquire(const std::string& dir);

  DirectoryLock(DirectoryLock&& other) noexcept;
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  ~DirectoryLock();

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Makes renames and creations in `dir` durable.
absl::Status SyncDir(const std::string& dir);
absl::Status RenameFile(const std::string& from, const std::string& to);
absl::Status RemoveFile(const std::string& path);

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_FILE_H_
