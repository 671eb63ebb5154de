#include "image/changes.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_util.h"

namespace berth::image {
namespace {

using berth::test::error_of;
using ojson = nlohmann::ordered_json;

ojson apply(const std::vector<std::string>& changes) {
  ojson c = ojson::object();
  apply_changes(&c, changes);
  return c;
}

TEST(Changes, CmdAndEntrypointJsonAndShellForms) {
  ojson c = apply({"CMD [\"/bin/echo\", \"hi there\"]", "entrypoint /init --flag \"quoted arg\""});
  EXPECT_EQ(c["Cmd"], ojson({"/bin/echo", "hi there"}));
  EXPECT_EQ(c["Entrypoint"], ojson({"/bin/sh", "-c", "/init --flag \"quoted arg\""}));
  // Not a JSON array of strings: shell form, as in a Dockerfile.
  EXPECT_EQ(apply({"CMD [1, 2]"})["Cmd"], ojson({"/bin/sh", "-c", "[1, 2]"}));
  EXPECT_EQ(apply({"CMD []"})["Cmd"], ojson::array());
}

TEST(Changes, EnvPairsQuotesExpansionAndLegacyForm) {
  ojson c = apply({"ENV A=1 B=\"two words\" C=x\\ y", "ENV D=$A-${B} E='$A'", "ENV A=override",
                   "ENV LEGACY some value here", "ENV F=${NOPE:-def} G=${A:+set}"});
  EXPECT_EQ(c["Env"], ojson({"A=override", "B=two words", "C=x y", "D=1-two words", "E=$A", "LEGACY=some value here",
                             "F=def", "G=set"}));
  EXPECT_EQ(error_of([] { apply({"ENV A=1 B"}); }),
            "change \"ENV A=1 B\": Syntax error - can't find = in \"B\". Must be of the form: name=value");
  EXPECT_EQ(error_of([] { apply({"ENV lonely"}); }), "change \"ENV lonely\": ENV must have two arguments");
  EXPECT_EQ(error_of([] { apply({"ENV"}); }), "change \"ENV\": ENV requires at least one argument");
}

TEST(Changes, LabelsExposeUserVolumeWorkdir) {
  ojson c = apply({"LABEL a=b \"com.x.y\"=\"z z\"", "EXPOSE 80 53/udp 8000-8002/TCP", "ENV U=app",
                   "USER $U:1000", "VOLUME [\"/data\", \"/logs\"]", "VOLUME /cache /tmp/x", "WORKDIR /srv",
                   "WORKDIR app/../web", "STOPSIGNAL SIGQUIT", "ONBUILD RUN make"});
  EXPECT_EQ(c["Labels"], ojson({{"a", "b"}, {"com.x.y", "z z"}}));
  EXPECT_EQ(c["ExposedPorts"], ojson({{"80/tcp", ojson::object()},
                                      {"53/udp", ojson::object()},
                                      {"8000/tcp", ojson::object()},
                                      {"8001/tcp", ojson::object()},
                                      {"8002/tcp", ojson::object()}}));
  EXPECT_EQ(c["User"], "app:1000");
  EXPECT_EQ(c["Volumes"], ojson({{"/data", ojson::object()},
                                 {"/logs", ojson::object()},
                                 {"/cache", ojson::object()},
                                 {"/tmp/x", ojson::object()}}));
  EXPECT_EQ(c["WorkingDir"], "/srv/web");
  EXPECT_EQ(c["StopSignal"], "SIGQUIT");
  EXPECT_EQ(c["OnBuild"], ojson({"RUN make"}));
  EXPECT_FALSE(c.contains("Cmd"));  // untouched fields stay absent
}

TEST(Changes, Healthcheck) {
  ojson c = apply({"HEALTHCHECK --interval=1m30s --retries=3 --timeout=500ms CMD curl -f http://localhost/"});
  EXPECT_EQ(c["Healthcheck"], ojson({{"Test", {"CMD-SHELL", "curl -f http://localhost/"}},
                                     {"Interval", 90000000000LL},
                                     {"Timeout", 500000000LL},
                                     {"Retries", 3}}));
  EXPECT_EQ(apply({"HEALTHCHECK CMD [\"/bin/check\", \"-q\"]"})["Healthcheck"]["Test"],
            ojson({"CMD", "/bin/check", "-q"}));
  EXPECT_EQ(apply({"HEALTHCHECK NONE"})["Healthcheck"], ojson({{"Test", {"NONE"}}}));
  EXPECT_THROW(apply({"HEALTHCHECK --interval=soon CMD true"}), Error);
  EXPECT_THROW(apply({"HEALTHCHECK --bogus=1 CMD true"}), Error);
  EXPECT_THROW(apply({"HEALTHCHECK RUN true"}), Error);
}

TEST(Changes, RejectsUnknownAndBadInstructions) {
  EXPECT_EQ(error_of([] { apply({"RUN make"}); }), "RUN is not a valid change command");
  EXPECT_EQ(error_of([] { apply({"frobnicate x"}); }), "FROBNICATE is not a valid change command");
  EXPECT_EQ(error_of([] { apply({"EXPOSE 70000"}); }), "change \"EXPOSE 70000\": EXPOSE: invalid port: 70000");
  EXPECT_EQ(error_of([] { apply({"EXPOSE 80/icmp"}); }), "change \"EXPOSE 80/icmp\": EXPOSE: invalid proto: icmp");
  EXPECT_EQ(error_of([] { apply({"STOPSIGNAL SIGNOPE"}); }), "change \"STOPSIGNAL SIGNOPE\": Invalid signal: SIGNOPE");
  EXPECT_EQ(error_of([] { apply({"VOLUME [\"\"]"}); }),
            "change \"VOLUME [\"\"]\": VOLUME specified can not be an empty string");
  EXPECT_EQ(error_of([] { apply({"ONBUILD FROM x"}); }),
            "change \"ONBUILD FROM x\": FROM isn't allowed as an ONBUILD trigger");
  EXPECT_THROW(apply({"CMD"}), Error);
  EXPECT_THROW(apply({"ENV A=\"unterminated"}), Error);
  EXPECT_NO_THROW(apply({"STOPSIGNAL 9", "STOPSIGNAL RTMIN+3", "STOPSIGNAL TERM"}));
}

TEST(Changes, MultiLineChangeValues) {
  ojson c = apply({"ENV A=1\nCMD [\"a\"]\n\n"});
  EXPECT_EQ(c["Env"], ojson({"A=1"}));
  EXPECT_EQ(c["Cmd"], ojson({"a"}));
}

}  // namespace
}  // namespace berth::image
