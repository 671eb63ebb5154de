#include "cli/jsonmessage.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::cli {
namespace {

constexpr int64_t kSec = 1000000000;

// What `berthd`/dockerd send for a pull of a two-layer image.
const char* const kTwoLayerPull =
    R"({"status":"Pulling from team/bb","id":"1"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":500000,"total":1000000},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbb"}
{"status":"Pull complete","progressDetail":{},"id":"aaa"}
{"status":"Digest: sha256:abc"}
{"status":"Status: Downloaded newer image for 127.0.0.1:5000/team/bb:1"}
)";

struct Rendered {
  std::string out;
  std::string error;  // the Error's text, if the display threw
};

Rendered render(std::string_view wire, bool terminal, int width = 120, size_t step = 0) {
  Rendered r;
  JsonMessageDisplay::Options o;
  o.terminal = terminal;
  o.width = [width] { return width; };
  o.now_nanos = [] { return 1000 * kSec; };
  JsonMessageDisplay d([&](std::string_view s) { r.out.append(s); }, o);
  try {
    if (step == 0) step = wire.size();
    for (size_t i = 0; i < wire.size(); i += step) d.feed(wire.substr(i, step));
    d.finish();
  } catch (const Error& e) {
    r.error = e.what();
  }
  return r;
}

TEST(FormatProgress, BarAndCountsAsDockerFormatsThem) {
  JsonProgress p{.current = 500000, .total = 1000000};
  EXPECT_EQ(format_progress(p, 120, 0),
            "[=========================>                         ]    500kB/1MB");
  // Narrow terminals get the counts only.
  EXPECT_EQ(format_progress(p, 110, 0), "   500kB/1MB");
  // go-units HumanSize keeps four significant digits.
  EXPECT_EQ(format_progress({.current = 36450, .total = 1069000}, 80, 0), " 36.45kB/1.069MB");
  // As docker 28 drew it in a 120-column pty.
  EXPECT_EQ(format_progress({.current = 36450, .total = 1069000}, 120, 0),
            "[=>" + std::string(49, ' ') + "]  36.45kB/1.069MB");
  p.current = p.total;
  EXPECT_EQ(format_progress(p, 120, 0), "[==================================================>]      1MB/1MB");
}

TEST(FormatProgress, EdgeCases) {
  EXPECT_EQ(format_progress({}, 120, 0), "");
  EXPECT_EQ(format_progress({.current = 2048}, 120, 0), " 2.048kB");  // no total: no bar
  EXPECT_EQ(format_progress({.current = 3, .units = "files"}, 120, 0), "3 files");
  EXPECT_EQ(format_progress({.current = 1, .total = 4, .units = "layers"}, 80, 0), "1/4 layers");
  // A current beyond the total drops the total (and the bar is full).
  EXPECT_EQ(format_progress({.current = 5000, .total = 1000}, 80, 0), "     5kB");
  EXPECT_EQ(format_progress({.current = 1, .total = 2, .hide_counts = true}, 120, 0),
            "[=========================>                         ] ");
}

TEST(FormatProgress, TimeLeftFromStart) {
  // 250 of 1000 bytes in 10 s: 40 ms each, 30 s for the other 750.
  JsonProgress p{.current = 250, .total = 1000, .start = 990};
  EXPECT_EQ(format_progress(p, 120, 1000 * kSec), "[" + std::string(12, '=') + ">" + std::string(38, ' ') +
                                                      "]     250B/1kB 30s");
  EXPECT_EQ(format_progress(p, 60, 1000 * kSec), "    250B/1kB 30s");
  EXPECT_EQ(format_progress(p, 50, 1000 * kSec), "    250B/1kB");
}

TEST(JsonMessageDisplay, TerminalRewritesEachLayersLineInPlace) {
  Rendered r = render(kTwoLayerPull, true);
  EXPECT_EQ(r.error, "");
  std::string want =
      "1: Pulling from team/bb\n"
      // aaa: a new line below, up 1 to it, erase, write, back down 1.
      "\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B"
      "\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B"
      // aaa is now two lines up.
      "\x1b[2A\x1b[2K\raaa: Downloading [=========================>                         ]    500kB/1MB\r"
      "\x1b[2B"
      "\x1b[1A\x1b[2K\rbbb: Pull complete \r\x1b[1B"
      "\x1b[2A\x1b[2K\raaa: Pull complete \r\x1b[2B"
      "Digest: sha256:abc\n"
      "Status: Downloaded newer image for 127.0.0.1:5000/team/bb:1\n";
  EXPECT_EQ(r.out, want);
  // However the stream is cut.
  for (size_t step : {1, 7, 64}) EXPECT_EQ(render(kTwoLayerPull, true, 120, step).out, want) << step;
}

TEST(JsonMessageDisplay, NonTerminalSkipsProgressAndPrintsIdStatus) {
  Rendered r = render(kTwoLayerPull, false);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out,
            "1: Pulling from team/bb\n"
            "aaa: Pulling fs layer\n"
            "bbb: Pulling fs layer\n"
            "bbb: Pull complete\n"
            "aaa: Pull complete\n"
            "Digest: sha256:abc\n"
            "Status: Downloaded newer image for 127.0.0.1:5000/team/bb:1\n");
}

TEST(JsonMessageDisplay, NarrowTerminalHasNoBar) {
  Rendered r = render(R"({"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"a"})", true, 80);
  EXPECT_EQ(r.out, "\n\x1b[1A\x1b[2K\ra: Downloading       1B/2B\r\x1b[1B");
}

TEST(JsonMessageDisplay, OtherMessagesStartANewBlock) {
  // pull -a: the second tag's layer lines must not move the cursor over the first's.
  std::string wire =
      R"({"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling from team/bb","id":"2"}
{"status":"Pull complete","progressDetail":{},"id":"aaa"}
)";
  EXPECT_EQ(render(wire, true).out,
            "\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B"
            "2: Pulling from team/bb\n"
            "\n\x1b[1A\x1b[2K\raaa: Pull complete \r\x1b[1B");
}

TEST(JsonMessageDisplay, StreamIsRawAndAuxIsHandedOver) {
  std::string aux;
  JsonMessageDisplay::Options o;
  o.aux = [&](const nlohmann::json& a) { aux = a.dump(); };
  std::string out;
  JsonMessageDisplay d([&](std::string_view s) { out.append(s); }, o);
  d.feed(R"({"stream":"Loaded image: bb:latest\n"})" "\n");
  d.feed(R"({"aux":{"ID":"sha256:1"}})" "\n");
  d.feed(R"({"status":"deprecated","progress":"[==>  ] 1B","id":"x"})" "\n");
  EXPECT_EQ(out, "Loaded image: bb:latest\nx: deprecated [==>  ] 1B");
  EXPECT_EQ(aux, R"({"ID":"sha256:1"})");
}

TEST(JsonMessageDisplay, ErrorEndsTheDisplayWithItsText) {
  std::string wire =
      R"({"status":"The push refers to repository [127.0.0.1:5000/team/bb]"}
{"status":"Preparing","progressDetail":{},"id":"51ff8632188c"}
{"errorDetail":{"message":"no basic auth credentials"},"error":"no basic auth credentials"}
{"status":"never shown"}
)";
  for (bool terminal : {false, true}) {
    Rendered r = render(wire, terminal);
    EXPECT_EQ(r.error, "no basic auth credentials");
    EXPECT_EQ(r.out.find("never shown"), std::string::npos);
    EXPECT_NE(r.out.find("51ff8632188c: Preparing"), std::string::npos);
  }
  // Only the deprecated field, as some senders write it.
  EXPECT_EQ(render(R"({"error":"boom"})", false).error, "boom");
}

TEST(JsonMessageDisplay, GarbageIsAnError) {
  EXPECT_NE(render("[1,2]\n", false).error, "");
}

}  // namespace
}  // namespace berth::cli
