// logs: a container's json-file log, demultiplexed when it has no tty.
#include "berth.h"
#include "cli/stream.h"
#include "cli/units.h"

namespace berth::cmd {

int cmd_logs(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER", "Fetch the logs of a container");
  c.flags.add_bool("details", "Show extra details provided to logs");
  c.flags.add_bool("f,follow", "Follow log output");
  c.flags.add_value("since", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)");
  c.flags.add_value("n,tail", "Number of lines to show from the end of the logs", "all");
  c.flags.add_bool("t,timestamps", "Show timestamps");
  c.flags.add_value("until", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)");
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  json info = inspect_container(ctx, pos[0]);
  bool tty = info["Config"].value("Tty", false);
  int64_t now = now_nanos();
  cli::Query q;
  q.add("stdout", "1").add("stderr", "1");
  q.add_if(c.flags.changed("since"), "since", c.flags.changed("since") ? cli::api_timestamp(c.flags.value("since"), now) : "");
  q.add_if(c.flags.changed("until"), "until", c.flags.changed("until") ? cli::api_timestamp(c.flags.value("until"), now) : "");
  q.add_if(c.flags.on("timestamps"), "timestamps", "1");
  q.add_if(c.flags.on("follow"), "follow", "1");
  q.add("tail", c.flags.value("tail"));
  q.add_if(c.flags.on("details"), "details", "1");
  cli::FrameDemuxer demux([](int stream, std::string_view payload) {
    if (stream == 3) fail("error from daemon in stream: {}", payload);
    cli::write_all(stream == 2 ? 2 : 1, payload);
  });
  ctx.api().stream("GET", "/containers/" + pos[0] + "/logs" + q.str(), [&](std::string_view d) {
    if (tty) cli::write_all(1, d);
    else demux.feed(d);
  });
  return 0;
}

}  // namespace berth::cmd
