#include "cli/template.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::cli {
namespace {

using nlohmann::json;

// A trimmed `docker inspect` record.
json container() {
  return json::parse(R"({
    "ID": "4f66ad9a0b2e",
    "Name": "/web",
    "Image": "nginx:1.25",
    "Args": ["-g", "daemon off;"],
    "Size": 1048576,
    "Ratio": 1.5,
    "Big": 1000000.0,
    "Tiny": 0.00001,
    "Empty": "",
    "Null": null,
    "A": "y",
    "State": {"Status": "running", "Running": true, "Pid": 4242, "ExitCode": 0},
    "Config": {"Env": ["PATH=/usr/bin", "TERM=xterm"],
               "Labels": {"b": "2", "a": "1"},
               "Tty": false},
    "Mounts": [{"Source": "/srv/data", "Destination": "/data"},
               {"Source": "/etc/conf", "Destination": "/conf"}],
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null}}
  })");
}

struct Case {
  const char* tmpl;
  const char* want;
};

class Render : public ::testing::TestWithParam<Case> {};

TEST_P(Render, Output) {
  const Case& c = GetParam();
  EXPECT_EQ(Template::parse(c.tmpl).execute(container()), c.want) << c.tmpl;
}

INSTANTIATE_TEST_SUITE_P(Docker, Render, ::testing::Values(
    Case{"{{.ID}}", "4f66ad9a0b2e"},
    Case{"id={{.ID}} name={{.Name}}\n", "id=4f66ad9a0b2e name=/web\n"},
    Case{"{{.State.Status}}", "running"},
    Case{"{{json .Config}}",
         R"({"Env":["PATH=/usr/bin","TERM=xterm"],"Labels":{"a":"1","b":"2"},"Tty":false})"},
    Case{"{{json .Name}}", R"("/web")"},
    Case{"{{json .Missing}}", "null"},
    Case{"{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/srv/data:/data /etc/conf:/conf "},
    Case{"{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"},
    Case{"{{range $i, $e := .Args}}{{$i}}:{{$e}} {{end}}", "0:-g 1:daemon off; "},
    Case{"{{range $e := .Args}}[{{$e}}]{{end}}", "[-g][daemon off;]"},
    Case{"{{range .Nothing}}x{{else}}none{{end}}", "none"},
    Case{"{{range .Args}}{{if eq . \"-g\"}}{{continue}}{{end}}{{.}}{{end}}", "daemon off;"},
    Case{"{{range .Args}}{{.}}{{break}}{{end}}", "-g"},
    Case{"{{if .State.Running}}up{{else}}down{{end}}", "up"},
    Case{"{{if .Config.Tty}}tty{{else if .State.Pid}}pid{{else}}none{{end}}", "pid"},
    Case{"{{if .Empty}}a{{else if .Null}}b{{else}}c{{end}}", "c"},
    Case{"{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/4242"},
    Case{"{{with .State}}{{with .Missing}}x{{else}}{{.Status}}{{end}}{{end}}", "running"},
    Case{"{{index .NetworkSettings.Ports \"80/tcp\"}}", "[map[HostIp:0.0.0.0 HostPort:8080]]"},
    Case{"{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}", "8080"},
    Case{"{{index .Args 1}}", "daemon off;"},
    Case{"{{join .Args \",\"}}", "-g,daemon off;"},
    Case{"{{printf \"%-10s|\" .Name}}", "/web      |"},
    Case{"{{printf \"%10s|%5d|%05d|%x|%q|%t|%v\" .A .State.Pid 42 255 .A true .Args}}",
         "         y| 4242|00042|ff|\"y\"|true|[-g daemon off;]"},
    Case{"{{printf \"%.2f %v %v %v %e\" .Ratio .Ratio .Big .Tiny .Ratio}}", "1.50 1.5 1e+06 1e-05 1.500000e+00"},
    Case{"{{printf \"%d %s\" .Name 3}}", "%!d(string=/web) %!s(int=3)"},
    Case{"{{printf \"%s %s\" .A}}", "y %!s(MISSING)"},
    Case{"{{printf \"%s\" .A 1}}", "y%!(EXTRA int=1)"},
    Case{"{{len .Args}}", "2"},
    Case{"{{len .Name}}", "4"},
    Case{"{{.Size | printf \"%d\"}}", "1048576"},
    Case{"{{.Size}} {{.Ratio}} {{.Big}}", "1048576 1.5 1e+06"},
    Case{"a {{- /* c */ -}} b", "ab"},
    Case{"a  {{- .A -}}  \n b", "ayb"},
    Case{"{{/* only a comment */}}", ""},
    Case{"{{upper .Name}} {{lower \"ABC\"}} {{title \"hello big-world\"}}", "/WEB abc Hello Big-World"},
    Case{"{{eq .A \"x\" \"y\"}} {{eq .A \"x\"}} {{ne .A \"x\"}}", "true false true"},
    Case{"{{lt 1 2}} {{le 2 2}} {{gt .State.Pid 5}} {{ge \"a\" \"b\"}}", "true true true false"},
    Case{"{{and .A .Empty}}|{{or .Empty .A}}|{{not .Empty}}|{{and 1 2}}", "|y|true|2"},
    Case{"{{$name := .Name}}{{range .Args}}{{$name}}{{.}} {{end}}", "/web-g /webdaemon off; "},
    Case{"{{$n := 0}}{{range .Args}}{{$n = .}}{{end}}{{$n}}", "daemon off;"},
    Case{"{{range .Mounts}}{{$.Name}}{{end}}", "/web/web"},
    Case{"{{.Missing}}", "<no value>"},
    Case{"{{.Missing.Deeper}}", "<no value>"},
    Case{"{{.Null}}|{{print .Null}}|{{print .Missing}}", "<no value>|<nil>|<nil>"},
    Case{"{{.Config.Labels}} {{.Args}} {{.Config}}",
         "map[a:1 b:2] [-g daemon off;] map[Env:[PATH=/usr/bin TERM=xterm] Labels:map[a:1 b:2] Tty:false]"},
    Case{"{{print 1 2 \"a\" \"b\" 3}}|{{println 1 \"a\"}}", "1 2ab3|1 a\n"},
    Case{"{{split \"a:b:c\" \":\"}} {{join (split \"a:b\" \":\") \"-\"}}", "[a b c] a-b"},
    Case{"{{truncate .ID 4}}|{{truncate .ID 40}}|{{pad .A 1 2}}|{{pad .Empty 1 2}}|", "4f66|4f66ad9a0b2e| y  ||"},
    Case{"{{slice .Name 1 3}} {{slice .Args 1}}", "we [daemon off;]"},
    Case{"{{\"quoted\"}} {{`raw`}} {{1.0}} {{-3}} {{0x10}} {{'a'}} {{true}}", "quoted raw 1 -3 16 97 true"},
    Case{"{{.State.Status | upper | printf \"<%s>\"}}", "<RUNNING>"},
    Case{"{{json (index .NetworkSettings.Ports \"443/tcp\")}}", "null"}));

struct ErrCase {
  const char* tmpl;
  const char* want;  // exact message
};

class Fails : public ::testing::TestWithParam<ErrCase> {};

TEST_P(Fails, Message) {
  const ErrCase& c = GetParam();
  try {
    Template::parse(c.tmpl).execute(container());
    ADD_FAILURE() << "no error for " << c.tmpl;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), c.want) << c.tmpl;
  }
}

INSTANTIATE_TEST_SUITE_P(Go, Fails, ::testing::Values(
    ErrCase{"{{.ID", "template: :1: unclosed action"},
    ErrCase{"x\n{{foo .ID}}", "template: :2: function \"foo\" not defined"},
    ErrCase{"{{if .A}}x", "template: :1: unexpected EOF"},
    ErrCase{"{{end}}", "template: :1: unexpected {{end}}"},
    ErrCase{"{{$x}}", "template: :1: undefined variable \"$x\""},
    ErrCase{"{{/* x", "template: :1: unclosed comment"},
    ErrCase{"{{if}}{{end}}", "template: :1: missing value for if"},
    ErrCase{"{{.A }}{{(.B}}", "template: :1: unclosed left paren"},
    ErrCase{"{{.A \"x}}", "template: :1: unterminated quoted string"},
    ErrCase{"{{.A | 1}}", "template: :1: non executable command in pipeline stage 2"},
    ErrCase{"{{range .State.Pid}}{{end}}",
            "template: :1:8: executing \"\" at <{{range .State.Pid}}...>: range can't iterate over 4242"},
    ErrCase{"{{.Null.X}}", "template: :1:7: executing \"\" at <.Null.X>: nil pointer evaluating interface {}.X"},
    ErrCase{"{{.Name.X}}",
            "template: :1:7: executing \"\" at <.Name.X>: can't evaluate field X in type interface {}"},
    ErrCase{"{{index .Args 5}}",
            "template: :1:2: executing \"\" at <index .Args 5>: error calling index: index out of range: 5"},
    ErrCase{"{{eq .A 1}}",
            "template: :1:2: executing \"\" at <eq .A 1>: error calling eq: incompatible types for comparison"},
    ErrCase{"{{len 3}}", "template: :1:2: executing \"\" at <len 3>: error calling len: len of type int"},
    ErrCase{"{{upper 3}}", "template: :1:8: executing \"\" at <3>: expected string; found 3"},
    ErrCase{"{{upper .Size}}",
            "template: :1:8: executing \"\" at <.Size>: wrong type for value; expected string; got int"},
    ErrCase{"{{join .Args}}", "template: :1:2: executing \"\" at <join>: wrong number of args for join: want 2 got 1"},
    ErrCase{"{{\"a\" 1}}", "template: :1:2: executing \"\" at <\"a\">: can't give argument to non-function \"a\""}));

TEST(Table, Detects) {
  EXPECT_TRUE(is_table_format("table {{.ID}}"));
  EXPECT_FALSE(is_table_format("{{.ID}}"));
  EXPECT_EQ(strip_table("table {{.ID}}\\t{{.Image}}"), "{{.ID}}\t{{.Image}}");
  EXPECT_EQ(strip_table(" {{.ID}}\\n "), "{{.ID}}\n");
}

TEST(Table, RendersLikeDocker) {
  json header = {{"ID", "CONTAINER ID"}, {"Image", "IMAGE"}};
  std::vector<json> rows = {{{"ID", "4f66ad9a0b2e"}, {"Image", "nginx:1.25"}},
                            {{"ID", "9c1"}, {"Image", "redis"}}};
  EXPECT_EQ(render_table("table {{.ID}}\\t{{.Image}}", header, rows),
            "CONTAINER ID   IMAGE\n"
            "4f66ad9a0b2e   nginx:1.25\n"
            "9c1            redis\n");
}

TEST(Table, HeaderFunctionsKeepTitles) {
  json header = {{"Names", "NAMES"}, {"Status", "STATUS"}};
  std::vector<json> rows = {{{"Names", "web"}, {"Status", "Up"}}};
  EXPECT_EQ(render_table("table {{upper .Names}}\\t{{lower .Status}}", header, rows),
            "NAMES     STATUS\n"
            "WEB       up\n");
}

TEST(Tabwriter, MinWidthAndBlocks) {
  EXPECT_EQ(tabwrite("a\tb\tc\nlonger-cell-here\tx\ty\nno tabs\nq\tr\n"),
            "a                  b         c\n"
            "longer-cell-here   x         y\n"
            "no tabs\n"
            "q         r\n");
}

}  // namespace
}  // namespace berth::cli
