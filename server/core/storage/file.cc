#include "server/core/storage/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace related::storage {

absl::Status ErrnoStatus(int error, absl::string_view what,
                         absl::string_view path) {
  const std::string message =
      absl::StrCat(what, " ", path, ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT)
    return absl::ResourceExhaustedError(message);
  if (error == ENOENT) return absl::NotFoundError(message);
  return absl::UnavailableError(message);
}

absl::StatusOr<File> File::OpenForAppend(const std::string& path) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  return File(fd, path);
}

absl::StatusOr<File> File::Create(const std::string& path) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "cannot create", path);
  return File(fd, path);
}

File::File(File&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) close(fd_);
}

absl::Status File::Write(absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path_);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status File::WriteAt(int64_t offset, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = pwrite(fd_, data.data(), data.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path_);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return absl::OkStatus();
}

absl::Status File::Sync() {
  if (fdatasync(fd_) != 0) return ErrnoStatus(errno, "cannot sync", path_);
  return absl::OkStatus();
}

absl::Status File::Truncate(int64_t size) {
  if (ftruncate(fd_, size) != 0)
    return ErrnoStatus(errno, "cannot truncate", path_);
  // Without O_APPEND the offset stays past the cut, and the next write would
  // leave a hole of zeros in the file.
  if (lseek(fd_, size, SEEK_SET) < 0)
    return ErrnoStatus(errno, "cannot seek", path_);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> File::Size() const {
  struct stat st;
  if (fstat(fd_, &st) != 0) return ErrnoStatus(errno, "cannot stat", path_);
  return static_cast<int64_t>(st.st_size);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  std::string data;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return ErrnoStatus(error, "cannot read", path);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return data;
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "cannot list", dir);
  std::vector<std::string> names;
  while (dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

absl::StatusOr<FileReader> FileReader::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  struct stat st = {};
  if (fstat(fd, &st) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoStatus(error, "cannot stat", path);
  }
  return FileReader(fd, path, static_cast<uint64_t>(st.st_size));
}

FileReader::FileReader(FileReader&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      size_(other.size_),
      position_(other.position_),
      buffer_(std::move(other.buffer_)),
      buffered_from_(other.buffered_from_) {}

FileReader::~FileReader() {
  if (fd_ >= 0) close(fd_);
}

absl::Status FileReader::ReadDirect(char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", path_);
    }
    if (n == 0) return absl::DataLossError(absl::StrCat(path_, ": cut short"));
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status FileReader::Read(void* data, size_t size) {
  constexpr size_t kBufferBytes = size_t{1} << 20;
  if (size > remaining()) {
    return absl::DataLossError(absl::StrCat(path_, ": cut short"));
  }
  char* out = static_cast<char*>(data);
  const size_t buffered = std::min(size, buffer_.size() - buffered_from_);
  std::memcpy(out, buffer_.data() + buffered_from_, buffered);
  buffered_from_ += buffered;
  position_ += buffered;
  out += buffered;
  size -= buffered;
  if (size == 0) return absl::OkStatus();
  if (size >= kBufferBytes) {  // large: straight into place
    position_ += size;
    return ReadDirect(out, size);
  }
  buffer_.resize(std::min<uint64_t>(kBufferBytes, remaining()));
  buffered_from_ = 0;
  if (absl::Status s = ReadDirect(buffer_.data(), buffer_.size()); !s.ok()) {
    return s;
  }
  std::memcpy(out, buffer_.data(), size);
  buffered_from_ = size;
  position_ += size;
  return absl::OkStatus();
}

absl::Status FileReader::Skip(uint64_t size) {
  char scratch[1 << 16];
  while (size > 0) {
    const size_t part = std::min<uint64_t>(size, sizeof scratch);
    if (absl::Status s = Read(scratch, part); !s.ok()) return s;
    size -= part;
  }
  return absl::OkStatus();
}

absl::StatusOr<DirectoryLock> DirectoryLock::Acquire(const std::string& dir) {
  const std::string path = dir + "/LOCK";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[32] = {};
    [[maybe_unused]] ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
    close(fd);
    if (error != EWOULDBLOCK) return ErrnoStatus(error, "cannot lock", path);
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", dir, " is in use by another related-server (pid ",
        absl::StripAsciiWhitespace(holder),
        "); each server needs a data directory of its own"));
  }
  // Who holds it, for the message above; the lock itself is the flock.
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    // Only the message would lack the pid: the lock is held.
  }
  return DirectoryLock(fd);
}

DirectoryLock::DirectoryLock(DirectoryLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

absl::Status EnsureDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "cannot create directory", dir);
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open directory", dir);
  const int rc = fsync(fd);
  const int error = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus(error, "cannot sync directory", dir);
  return absl::OkStatus();
}

absl::Status RenameFile(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot rename to ", to, ":"), from);
  }
  return absl::OkStatus();
}

absl::Status RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "cannot remove", path);
  }
  return absl::OkStatus();
}

}  // namespace related::storage
