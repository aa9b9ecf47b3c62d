#include "server/service/metrics.h"

#include "absl/status/status.h"

#ifndef RELATED_VERSION
#define RELATED_VERSION "unknown"
#endif

namespace related {
namespace {

// From 50 microseconds (an in-memory lookup) to 5 seconds (a large import
// batch): the range this service's RPCs actually span.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
}

}  // namespace

ServiceMetrics::ServiceMetrics(absl::string_view index_kind)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("related_rpc_requests_total")
                    .Help("RPCs handled, by method and gRPC status code.")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("related_rpc_duration_seconds")
                   .Help("Time spent handling an RPC in the server, by method.")
                   .Register(*registry_)),
      articles_(prometheus::BuildGauge()
                    .Name("related_index_articles")
                    .Help("Articles currently stored and searchable.")
                    .Register(*registry_)
                    .Add({})),
      memory_bytes_(prometheus::BuildGauge()
                        .Name("related_index_memory_bytes")
                        .Help("Memory held by vectors and index structures.")
                        .Register(*registry_)
                        .Add({})),
      tombstone_ratio_(prometheus::BuildGauge()
                           .Name("related_index_tombstone_ratio")
                           .Help("Share of the index's slots held by replaced "
                                 "or deleted articles (until a compaction).")
                           .Register(*registry_)
                           .Add({})),
      held_texts_(prometheus::BuildGauge()
                      .Name("related_text_held_articles")
                      .Help("Text-only articles held until the server's "
                            "first text model is trained and embeds them "
                            "(not yet searchable; no snapshot meanwhile).")
                      .Register(*registry_)
                      .Add({})),
      compactions_(prometheus::BuildCounter()
                       .Name("related_compactions_total")
                       .Help("Compactions swapped in (tombstones dropped).")
                       .Register(*registry_)
                       .Add({})),
      compaction_seconds_(prometheus::BuildGauge()
                              .Name("related_compaction_duration_seconds")
                              .Help("How long the last compaction took.")
                              .Register(*registry_)
                              .Add({})),
      compacting_(prometheus::BuildGauge()
                      .Name("related_compaction_running")
                      .Help("1 while a compaction rebuilds the index.")
                      .Register(*registry_)
                      .Add({})),
      cards_memory_bytes_(
          prometheus::BuildGauge()
              .Name("related_cards_memory_bytes")
              .Help("Memory held by the articles' cards (what a box shows "
                    "of each article).")
              .Register(*registry_)
              .Add({})),
      card_pages_per_box_(
          prometheus::BuildGauge()
              .Name("related_card_pages_per_box")
              .Help("After the last card layout: distinct 4 KB pages the "
                    "cards of one stored box span, on average (0 before "
                    "any layout).")
              .Register(*registry_)
              .Add({})),
      card_layout_seconds_(prometheus::BuildGauge()
                               .Name("related_card_layout_seconds")
                               .Help("How long the last card layout took "
                                     "(writes wait for it).")
                               .Register(*registry_)
                               .Add({})),
      card_layout_pause_seconds_(
          prometheus::BuildGauge()
              .Name("related_card_layout_pause_seconds")
              .Help("How long the last card layout held reads off.")
              .Register(*registry_)
              .Add({})),
      upserted_(prometheus::BuildCounter()
                    .Name("related_articles_upserted_total")
                    .Help("Articles inserted or replaced.")
                    .Register(*registry_)
                    .Add({})),
      deleted_(prometheus::BuildCounter()
                   .Name("related_articles_deleted_total")
                   .Help("Articles deleted (that existed).")
                   .Register(*registry_)
                   .Add({})),
      boxes_(prometheus::BuildCounter()
                 .Name("related_getrelated_boxes_total")
                 .Help("GetRelated boxes answered, by source: read from the "
                       "precomputed related list, or searched.")
                 .Register(*registry_)),
      boxes_precomputed_(boxes_.Add({{"source", "precomputed"}})),
      boxes_searched_(boxes_.Add({{"source", "searched"}})),
      box_cache_hits_(prometheus::BuildCounter()
                          .Name("related_getrelated_box_cache_hits_total")
                          .Help("GetRelated boxes served already encoded "
                                "(--box_cache_entries); counted in "
                                "related_getrelated_boxes_total too.")
                          .Register(*registry_)
                          .Add({})),
      box_cache_checks_(
          prometheus::BuildCounter()
              .Name("related_getrelated_box_cache_checks_total")
              .Help("Cached boxes of an older state checked after writes, by "
                    "result: still current (served, a hit) or changed "
                    "(encoded again).")
              .Register(*registry_)),
      box_cache_current_(box_cache_checks_.Add({{"result", "current"}})),
      box_cache_changed_(box_cache_checks_.Add({{"result", "changed"}})) {
  prometheus::BuildGauge()
      .Name("related_build_info")
      .Help("Always 1; labels describe the running build.")
      .Register(*registry_)
      .Add({{"version", RELATED_VERSION},
            {"index_kind", std::string(index_kind)}})
      .Set(1);
}

MethodMetrics::MethodMetrics(prometheus::Family<prometheus::Counter>& requests,
                             prometheus::Family<prometheus::Histogram>& latency,
                             const std::string& method)
    : requests_(requests),
      method_(method),
      latency_(latency.Add({{"method", method}}, LatencyBuckets())) {}

void MethodMetrics::Record(grpc::StatusCode code, absl::Duration latency) {
  latency_.Observe(absl::ToDoubleSeconds(latency));
  const size_t index = static_cast<size_t>(code) < by_code_.size()
                           ? static_cast<size_t>(code)
                           : static_cast<size_t>(grpc::StatusCode::UNKNOWN);
  prometheus::Counter* counter =
      by_code_[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Two threads may both get here: Add returns the same series to both.
    counter = &requests_.Add(
        {{"method", method_},
         {"code",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(index))}});
    by_code_[index].store(counter, std::memory_order_release);
  }
  counter->Increment();
}

void ServiceMetrics::RecordBox(bool precomputed) {
  (precomputed ? boxes_precomputed_ : boxes_searched_).Increment();
}

MethodMetrics& ServiceMetrics::Method(const std::string& method) {
  absl::MutexLock lock(&methods_mu_);
  std::unique_ptr<MethodMetrics>& metrics = methods_[method];
  if (metrics == nullptr) {
    metrics = std::make_unique<MethodMetrics>(requests_, latency_, method);
  }
  return *metrics;
}

void ServiceMetrics::RecordWrites(int64_t upserted, int64_t deleted) {
  upserted_.Increment(static_cast<double>(upserted));
  deleted_.Increment(static_cast<double>(deleted));
}

void ServiceMetrics::SetIndexStats(const ArticleIndex& index) {
  const IndexStats stats =
      index.Stats(ArticleIndex::StatsScope::kWithoutListMemory);
  articles_.Set(static_cast<double>(stats.article_count));
  memory_bytes_.Set(static_cast<double>(stats.index_memory_bytes));
  tombstone_ratio_.Set(
      stats.slots > 0 ? double(stats.tombstones) / double(stats.slots) : 0.0);
  cards_memory_bytes_.Set(static_cast<double>(stats.cards_memory_bytes));
  {
    // Stats come from several threads; count each compaction once.
    absl::MutexLock lock(&compactions_mu_);
    if (stats.compactions > compactions_seen_) {
      compactions_.Increment(double(stats.compactions - compactions_seen_));
      compactions_seen_ = stats.compactions;
    }
  }
  compaction_seconds_.Set(stats.compaction_seconds);
  compacting_.Set(stats.compacting ? 1 : 0);
  card_pages_per_box_.Set(stats.card_pages_per_box);
  card_layout_seconds_.Set(stats.card_layout_seconds);
  card_layout_pause_seconds_.Set(stats.card_layout_pause_seconds);
}

}  // namespace related
