// StateWriter / StateReader: how the index's parts (vectors and graph,
// article table and cards, related lists) write their state into a
// snapshot and read it back at a restart, without knowing about files. The
// storage layer (storage/snapshot.h) implements both over one checksummed
// section of a snapshot file, streaming: nothing is held twice in memory.
//
// Both remember their first error and ignore everything after it, so that
// a part can write or read its fields in a plain sequence and check once,
// at the end. A reader never reads past its section: asking for more than
// is left fails with DATA_LOSS, which is what a part then returns.
#ifndef RELATED_SERVER_CORE_STATE_IO_H_
#define RELATED_SERVER_CORE_STATE_IO_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace related {

class StateWriter {
 public:
  virtual ~StateWriter() = default;

  void Bytes(const void* data, size_t size) {
    if (status_.ok() && size > 0) status_ = Write(data, size);
  }
  template <typename T>
  void Value(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    Bytes(&value, sizeof(T));
  }
  // A count, then the elements' bytes.
  template <typename T>
  void Array(const T* data, size_t count) {
    static_assert(std::is_trivially_copyable_v<T>);
    Value<uint64_t>(count);
    Bytes(data, count * sizeof(T));
  }
  template <typename T>
  void Array(const std::vector<T>& values) {
    Array(values.data(), values.size());
  }

  const absl::Status& status() const { return status_; }

 protected:
  virtual absl::Status Write(const void* data, size_t size) = 0;

 private:
  absl::Status status_;
};

class StateReader {
 public:
  virtual ~StateReader() = default;

  // Bytes left in the state being read.
  virtual uint64_t remaining() const = 0;

  void Bytes(void* data, size_t size) {
    if (!status_.ok() || size == 0) return;
    if (size > remaining()) {
      Fail(absl::StrCat("wants ", size, " bytes, ", remaining(), " left"));
      return;
    }
    status_ = Read(data, size);
  }
  template <typename T>
  T Value() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value{};
    Bytes(&value, sizeof(T));
    return value;
  }
  // What StateWriter::Array wrote; the count is checked against the bytes
  // left before anything is allocated. With `room`, capacity for that share
  // more is reserved: a vector the index goes on growing (the vectors, the
  // graph, the lists) then does not copy itself whole at the first writes
  // after a restart, and reserved pages that are never written cost no
  // resident memory.
  template <typename T>
  void Array(std::vector<T>& values, double room = 0) {
    static_assert(std::is_trivially_copyable_v<T>);
    const uint64_t count = Value<uint64_t>();
    if (!status_.ok()) return;
    if (count > remaining() / sizeof(T)) {
      Fail(absl::StrCat("an array of ", count, " entries does not fit in the ",
                        remaining(), " bytes left"));
      return;
    }
    values.reserve(count + static_cast<uint64_t>(room * double(count)));
    values.resize(count);
    Bytes(values.data(), count * sizeof(T));
  }

  // Records a problem with the content (a value out of range); the first
  // one is kept.
  void Fail(absl::string_view problem) {
    if (status_.ok()) status_ = absl::DataLossError(problem);
  }
  const absl::Status& status() const { return status_; }

 protected:
  virtual absl::Status Read(void* data, size_t size) = 0;

 private:
  absl::Status status_;
};

// Readers and writers over memory, for tests and fuzzing.
class StringStateWriter : public StateWriter {
 public:
  const std::string& bytes() const { return bytes_; }

 protected:
  absl::Status Write(const void* data, size_t size) override {
    bytes_.append(static_cast<const char*>(data), size);
    return absl::OkStatus();
  }

 private:
  std::string bytes_;
};

class StringStateReader : public StateReader {
 public:
  explicit StringStateReader(absl::string_view bytes) : bytes_(bytes) {}
  uint64_t remaining() const override { return bytes_.size(); }

 protected:
  absl::Status Read(void* data, size_t size) override {
    std::copy(bytes_.begin(), bytes_.begin() + size, static_cast<char*>(data));
    bytes_.remove_prefix(size);
    return absl::OkStatus();
  }

 private:
  absl::string_view bytes_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_STATE_IO_H_
