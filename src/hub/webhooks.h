// WebhookService: Docker Hub's repository webhooks. Each push to a
// repository POSTs Docker Hub's JSON payload (callback_url, push_data,
// repository) to every URL configured for it.
//
// Contract:
// - on_push() only records one delivery per webhook and queues it; a worker
//   thread (start()/stop()) sends them, so a push never waits for a
//   receiver. A delivery succeeds on a 2xx answer; anything else (status,
//   connection error, timeout) is retried up to Options::attempts times in
//   all, waiting backoff, 2*backoff, ... between attempts.
// - Every delivery is logged (payload, attempts, last status and error,
//   created/finished) and listed newest first by the deliveries route.
// - Routes (/api/v1/repositories/<repo>[/-]/webhooks[/<id>[/deliveries]],
//   split by hub/names.h's match_repository_route) need Level::kAdmin on the
//   repository. Webhook URLs must be http or https.
// - POST to a payload's callback_url (the receiver reporting its outcome,
//   {"state": "success"|"failure"|"error", "description": ...}) is recorded
//   on the delivery; the unguessable delivery id is its credential.
// - stop() returns at once (within ~50 ms) even when a receiver never
//   answers: waits between attempts end, and an attempt in flight is left
//   to finish (or time out after Options::timeout_seconds) on its own
//   thread. Deliveries still queued at stop() stay "pending" in the log.
// - A delivery is leased (lease_until, long enough for every attempt and
//   backoff) by the process that starts sending it, with a conditional
//   UPDATE, so one replica sends it. Pending deliveries nobody holds - left
//   by stop(), a crash or a replica that went away - are queued at start()
//   and every Options::rescan, and continue with their remaining attempts:
//   after a crash a receiver may see a payload twice, but never loses one
//   younger than Options::max_pending_age (older ones are marked failed). A
//   result is recorded only while its sender's lease holds.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "hub/hub_context.h"

namespace berth::registry {
class HttpClient;
}

namespace berth::hub {

class WebhookService {
 public:
  struct Options {
    int attempts = 3;
    std::chrono::milliseconds backoff{1000};  // before the second attempt; doubles after
    long timeout_seconds = 10;                // a receiver that has not answered in this long fails the attempt
    std::chrono::milliseconds rescan{5000};   // how often to look for deliveries nobody is sending
    std::chrono::hours max_pending_age{24};   // a delivery nobody sent within this fails
  };

  WebhookService(HubContext& ctx, Options opts);
  explicit WebhookService(HubContext& ctx) : WebhookService(ctx, Options{}) {}
  ~WebhookService();  // stop()s
  WebhookService(const WebhookService&) = delete;
  WebhookService& operator=(const WebhookService&) = delete;

  // Creates the tables (idempotent).
  void migrate();
  void start();
  void stop();

  // pusher: the account that pushed ("" when anonymous).
  void on_push(const std::string& repo, const std::string& tag, const ManifestRecord& m,
               const std::string& pusher);

  // Handles its /api/v1/ routes; false when the path is not one of them.
  bool serve(http::Request& req, http::Response& res);

  // Waits until every queued delivery has finished (tests), at most timeout.
  bool wait_idle(std::chrono::milliseconds timeout);

  // The payload a push to repo sends (exposed for tests).
  nlohmann::json payload(const std::string& repo, const std::string& tag, const ManifestRecord& m,
                         const std::string& pusher, const std::string& delivery_id);

 private:
  void run();
  void deliver(const std::string& delivery_id);
  int64_t lease_seconds() const;
  // Queues pending deliveries nobody holds a lease on.
  void queue_unleased();
  // Ends this process's lease on a delivery it will not finish.
  void release(const std::string& delivery_id, int64_t lease);
  // Sleeps d unless stop() is called first; false when stopping.
  bool sleep_unless_stopped(std::chrono::milliseconds d);

  HubContext& ctx_;
  Options opts_;
  std::shared_ptr<registry::HttpClient> http_;  // shared with attempts in flight
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // delivery ids
  bool busy_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace berth::hub
