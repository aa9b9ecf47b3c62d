#include "server/replication/nats_stream.h"

#include <nats/nats.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace related::replication {
namespace {

constexpr char kOriginHeader[] = "Related-Origin";
constexpr char kImportHeader[] = "Related-Import";
constexpr char kImportEndHeader[] = "Related-Import-End";
// The stream's description names the dimension, so that a replica of
// another dimension is refused before it reads a single entry.
constexpr char kDescriptionPrefix[] = "related-articles write log; dim=";

// JetStream API requests other than publishes wait at least this long.
constexpr absl::Duration kApiTimeout = absl::Seconds(5);
// How long the start-up lookup of the stream is retried on timeouts.
constexpr absl::Duration kStartupBudget = absl::Seconds(30);

int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// "what: the NATS error text" (the client's last error is more precise
// than the status name when it has one).
absl::Status NatsError(absl::string_view what, natsStatus s,
                       jsErrCode js_error = static_cast<jsErrCode>(0)) {
  const char* detail = nats_GetLastError(nullptr);
  std::string text = detail != nullptr && *detail != '\0'
                         ? std::string(detail)
                         : std::string(natsStatus_GetText(s));
  if (js_error != 0) absl::StrAppend(&text, " (JetStream error ", js_error, ")");
  return absl::UnavailableError(absl::StrCat(what, ": ", text));
}

// Owners of the C client's objects.
struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};
struct StreamInfoDeleter {
  void operator()(jsStreamInfo* s) const { jsStreamInfo_Destroy(s); }
};
struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

std::string Header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) {
    return "";
  }
  return value;
}

class OrderedReader final : public StreamReader {
 public:
  explicit OrderedReader(natsSubscription* sub) : sub_(sub) {}
  ~OrderedReader() override {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }

  absl::StatusOr<std::optional<LogEntry>> Next(absl::Duration wait) override {
    natsMsg* raw = nullptr;
    natsStatus s = natsSubscription_NextMsg(&raw, sub_, Millis(wait));
    if (s == NATS_TIMEOUT) return std::nullopt;
    if (s != NATS_OK) return NatsError("reading the stream", s);
    MsgPtr msg(raw);
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg.get()) != NATS_OK) {
      return absl::DataLossError("a stream entry without JetStream metadata");
    }
    LogEntry entry;
    entry.sequence = meta->Sequence.Stream;
    entry.pending = meta->NumPending;
    entry.stored = absl::FromUnixNanos(meta->Timestamp);
    jsMsgMetaData_Destroy(meta);
    entry.payload.assign(natsMsg_GetData(msg.get()),
                         natsMsg_GetDataLength(msg.get()));
    entry.origin = Header(msg.get(), kOriginHeader);
    entry.import_id = Header(msg.get(), kImportHeader);
    entry.import_end = !Header(msg.get(), kImportEndHeader).empty();
    return entry;
  }

 private:
  natsSubscription* const sub_;
};

class JetStream final : public NatsStream {
 public:
  JetStream(const NatsOptions& options, std::function<void(bool)> connected)
      : options_(options), connected_(std::move(connected)) {}
  ~JetStream() override {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) {
      natsConnection_Close(nc_);
      natsConnection_Destroy(nc_);
    }
  }

  absl::Status Connect() {
    natsOptions* raw = nullptr;
    if (natsOptions_Create(&raw) != NATS_OK) {
      return absl::ResourceExhaustedError("NATS: cannot allocate options");
    }
    std::unique_ptr<natsOptions, OptionsDeleter> opts(raw);
    if (absl::Status s = Configure(opts.get()); !s.ok()) return s;
    natsStatus s = natsConnection_Connect(&nc_, opts.get());
    if (s != NATS_OK) {
      return NatsError(absl::StrCat("cannot connect to NATS at ", options_.url),
                       s);
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    // JetStream API requests (stream lookups, consumers) may take seconds
    // while the cluster elects leaders; publishes have their own limit.
    jo.Wait = Millis(std::max(options_.publish_timeout, kApiTimeout));
    if ((s = natsConnection_JetStream(&js_, nc_, &jo)) != NATS_OK) {
      return NatsError("NATS JetStream", s);
    }
    return absl::OkStatus();
  }

  absl::Status FindOrCreateStream(int dimension) {
    Lookup found = LookUp();
    // A cluster that is starting (NATS pods come up with ours) or busy
    // answers late: ask again for a while before giving up.
    for (absl::Time give_up = absl::Now() + kStartupBudget;
         found.status == NATS_TIMEOUT && absl::Now() < give_up;) {
      found = LookUp();
    }
    if (found.status == NATS_NOT_FOUND ||
        found.error == JSStreamNotFoundErr) {
      return CreateStream(dimension);
    }
    if (found.status != NATS_OK) {
      return NatsError(absl::StrCat("NATS stream ", options_.stream,
                                    " (is JetStream enabled on the servers?)"),
                       found.status, found.error);
    }
    return CheckDimension(found.info->Config->Description, dimension);
  }

  absl::StatusOr<uint64_t> Publish(const Entry& entry) override {
    if (static_cast<int64_t>(entry.payload.size()) > max_payload()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the batch encodes to ", entry.payload.size(),
          " bytes, more than the NATS servers' max_payload of ", max_payload(),
          "; send smaller batches (or raise max_payload on the NATS servers)"));
    }
    natsMsg* raw = nullptr;
    if (natsMsg_Create(&raw, options_.subject.c_str(), nullptr,
                       entry.payload.data(),
                       static_cast<int>(entry.payload.size())) != NATS_OK) {
      return absl::ResourceExhaustedError("NATS: cannot allocate a message");
    }
    MsgPtr msg(raw);
    natsMsgHeader_Set(msg.get(), kOriginHeader, entry.origin.c_str());
    if (!entry.import_id.empty()) {
      natsMsgHeader_Set(msg.get(), kImportHeader, entry.import_id.c_str());
    }
    if (entry.import_end) natsMsgHeader_Set(msg.get(), kImportEndHeader, "1");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = Millis(options_.publish_timeout);
    po.MsgId = entry.message_id.c_str();
    po.ExpectStream = options_.stream.c_str();
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_PublishMsg(&ack, js_, msg.get(), &po, &jerr);
    if (s != NATS_OK) {
      return NatsError("the replicated log (NATS JetStream) did not "
                       "acknowledge the write",
                       s, jerr);
    }
    const uint64_t sequence = ack->Sequence;
    jsPubAck_Destroy(ack);
    return sequence;
  }

  absl::StatusOr<StreamState> State() override {
    const Lookup found = LookUp();
    if (found.status != NATS_OK) {
      return NatsError(absl::StrCat("NATS stream ", options_.stream),
                       found.status, found.error);
    }
    const jsStreamState& stored = found.info->State;
    StreamState state;
    state.first_sequence = stored.Msgs > 0 ? stored.FirstSeq : 0;
    state.last_sequence = stored.LastSeq;
    if (state.first_sequence == 0 && state.last_sequence > 0) {
      state.first_sequence = state.last_sequence + 1;  // all trimmed
    }
    return state;
  }

  absl::StatusOr<std::unique_ptr<StreamReader>> Read(
      uint64_t from_sequence) override {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options_.stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from_sequence;
    // The client re-creates an ordered consumer after two missed
    // heartbeats: at 1 s (the default is 5 s), a consumer lost with its NATS
    // node stalls this replica's applies for seconds, not tens of seconds.
    so.Config.Heartbeat = absl::ToInt64Nanoseconds(absl::Seconds(1));
    natsSubscription* sub = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_SubscribeSync(&sub, js_, options_.subject.c_str(),
                                    nullptr, &so, &jerr);
    if (s != NATS_OK) {
      return NatsError(absl::StrCat("reading NATS stream ", options_.stream),
                       s, jerr);
    }
    // Entries of up to max_payload bytes may queue while a batch is applied.
    natsSubscription_SetPendingLimits(sub, 1 << 20, 1 << 30);
    return std::make_unique<OrderedReader>(sub);
  }

  int64_t max_payload() const override {
    return natsConnection_GetMaxPayload(nc_);
  }

 private:
  absl::Status Configure(natsOptions* opts) {
    // A list of servers: the client tries them in turn, and reconnects to
    // any of them (and to those the cluster tells it of).
    const std::vector<std::string> urls =
        absl::StrSplit(options_.url, ',', absl::SkipWhitespace());
    std::vector<const char*> servers;
    for (const std::string& url : urls) servers.push_back(url.c_str());
    natsStatus s = natsOptions_SetServers(opts, servers.data(),
                                          static_cast<int>(servers.size()));
    if (s == NATS_OK) s = natsOptions_SetName(opts, "related-server");
    if (s == NATS_OK) {
      s = natsOptions_SetTimeout(opts, Millis(options_.connect_timeout));
    }
    // Once connected, reconnect for ever: the stream is the only way writes
    // get in, and reads go on meanwhile.
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) {
      s = natsOptions_SetDisconnectedCB(opts, &JetStream::Disconnected, this);
    }
    if (s == NATS_OK) {
      s = natsOptions_SetReconnectedCB(opts, &JetStream::Reconnected, this);
    }
    if (s == NATS_OK && !options_.credentials_file.empty()) {
      s = natsOptions_SetUserCredentialsFromFiles(
          opts, options_.credentials_file.c_str(), nullptr);
    }
    if (s == NATS_OK && !options_.tls_ca_file.empty()) {
      s = natsOptions_SetSecure(opts, true);
      if (s == NATS_OK) {
        s = natsOptions_LoadCATrustedCertificates(opts,
                                                  options_.tls_ca_file.c_str());
      }
    }
    if (s == NATS_OK && !options_.tls_cert_file.empty()) {
      s = natsOptions_LoadCertificatesChain(opts, options_.tls_cert_file.c_str(),
                                            options_.tls_key_file.c_str());
    }
    return s == NATS_OK ? absl::OkStatus()
                        : NatsError("NATS client options", s);
  }

  // The stream's configuration and state, as JetStream answers.
  struct Lookup {
    natsStatus status = NATS_OK;
    jsErrCode error = static_cast<jsErrCode>(0);
    std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info;
  };
  Lookup LookUp() const {
    Lookup found;
    jsStreamInfo* raw = nullptr;
    found.status = js_GetStreamInfo(&raw, js_, options_.stream.c_str(),
                                    nullptr, &found.error);
    found.info.reset(raw);
    return found;
  }

  absl::Status CreateStream(int dimension) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const std::string description = absl::StrCat(kDescriptionPrefix, dimension);
    const char* subjects[] = {options_.subject.c_str()};
    cfg.Name = options_.stream.c_str();
    cfg.Description = description.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options_.replicas;
    // Everything is kept (the default limits): a new replica replays the
    // stream from its first entry (docs/replication.md says why).
    cfg.Duplicates = absl::ToInt64Nanoseconds(absl::Minutes(2));
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&raw, js_, &cfg, nullptr, &jerr);
    std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw);
    if (s != NATS_OK) {
      return NatsError(absl::StrCat("cannot create NATS stream ",
                                    options_.stream, " with ",
                                    options_.replicas, " replicas"),
                       s, jerr);
    }
    return absl::OkStatus();
  }

  absl::Status CheckDimension(const char* description, int dimension) const {
    absl::string_view text = description != nullptr ? description : "";
    int stored = 0;
    if (!absl::ConsumePrefix(&text, kDescriptionPrefix) ||
        !absl::SimpleAtoi(text, &stored)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "NATS stream ", options_.stream,
          " was not made by related-server (its description is '",
          description != nullptr ? description : "",
          "'); name another with --nats_stream"));
    }
    if (stored != dimension) {
      return absl::FailedPreconditionError(absl::StrCat(
          "NATS stream ", options_.stream, " holds embeddings of dimension ",
          stored, ", this server has --dim=", dimension));
    }
    return absl::OkStatus();
  }

  static void Disconnected(natsConnection*, void* self) {
    auto* stream = static_cast<JetStream*>(self);
    if (stream->connected_) stream->connected_(false);
  }
  static void Reconnected(natsConnection*, void* self) {
    auto* stream = static_cast<JetStream*>(self);
    if (stream->connected_) stream->connected_(true);
  }

  const NatsOptions options_;
  const std::function<void(bool)> connected_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NatsStream>> NatsStream::Open(
    const NatsOptions& options, int dimension,
    std::function<void(bool)> connected) {
  auto stream = std::make_unique<JetStream>(options, connected);
  if (absl::Status s = stream->Connect(); !s.ok()) return s;
  if (absl::Status s = stream->FindOrCreateStream(dimension); !s.ok()) {
    return s;
  }
  if (connected) connected(true);
  return stream;
}

}  // namespace related::replication
