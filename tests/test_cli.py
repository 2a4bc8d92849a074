"""The command line: ``ossfast send`` against the loopback server, its exit codes, headers, stdin,
progress and JSON output; ``--help`` for newcomers; the installed ``ossfast`` command."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from srv_replies import oss_error

import ossfast
from ossfast import cli

ROUTE = "fc-ap-01-1234-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"


@pytest.fixture
def env(monkeypatch, recording_server):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "ak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "SeCrEtKeY")
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "sts")
    monkeypatch.setenv("OSSFAST_ENDPOINT", recording_server.url)
    return recording_server


def run(*argv):
    return cli.main(list(argv))


def test_send_a_file_with_forwarded_and_extra_headers(env, tmp_path, capsys):
    body = os.urandom(300_000)
    path = tmp_path / "body.bin"
    path.write_bytes(body)
    code = run("send", "--route", ROUTE, "--token", "tok", "--status", "206",
               "-H", "Content-Type: image/webp", "--header", "x-oss-fwd-header-ETag: \"e1\"",
               "-H", "Content-Range: bytes 0-299999/400000", "-H", "x-oss-meta-a: b", str(path))
    assert code == 0
    req = env.wait_for(1)[0]
    assert req.body_length == len(body) and req.crc64 == ossfast.crc64(body)
    assert req.header("x-oss-fwd-status") == "206"
    assert req.header("x-oss-fwd-header-Content-Type") == "image/webp"
    assert req.header("x-oss-fwd-header-ETag") == '"e1"'
    assert req.header("x-oss-meta-a") == "b"
    assert req.header("x-oss-request-token") == "tok" and req.header("x-oss-security-token") == "sts"
    out = capsys.readouterr().out
    assert "sent 300,000 bytes" in out and "HTTP 200" in out


def test_json_output(env, tmp_path, capsys):
    path = tmp_path / "b"
    path.write_bytes(b"hello")
    assert run("send", "--route", ROUTE, "--token", "t", "--json", "--signature-version", "v1",
               str(path)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == 200 and result["bytes_sent"] == 5
    assert int(result["crc64"]) == ossfast.crc64(b"hello")
    assert env.wait_for(1)[0].header("Authorization").startswith("OSS ak:")


def test_progress_bar_on_request(env, tmp_path, capsys):
    path = tmp_path / "b"
    path.write_bytes(b"x" * (9 * 1024 * 1024))
    assert run("send", "--route", ROUTE, "--token", "t", "--progress", "always", str(path)) == 0
    err = capsys.readouterr().err
    assert "100.0%" in err and "MB/s" in err


@pytest.mark.parametrize("argv,message", [
    (["-H", "nocolon"], "expected NAME:VALUE"),
    (["-H", "x-oss-fwd-header-Vary: x"], "OSS forwards only"),
    (["-H", "Content-Type: a", "-H", "content-type: b"], "given twice"),
    (["-H", "X-Custom: a"], "not a forwarded header"),  # the help: forwarded ones, or x-oss-*
    (["--status", "201"], "status"),
    (["--route", "bad route"], "route"),
])
def test_bad_input_exits_2_and_sends_nothing(env, tmp_path, capsys, argv, message):
    path = tmp_path / "b"
    path.write_bytes(b"x")
    base = ["send", "--route", ROUTE, "--token", "t"]
    if "--route" in argv:
        base = ["send", "--token", "t"]
    assert run(*base, *argv, str(path)) == 2
    assert message in capsys.readouterr().err
    assert env.accepted == 0


def test_missing_file_exits_2(env, tmp_path, capsys):
    assert run("send", "--route", ROUTE, "--token", "t", str(tmp_path / "nope")) == 2
    assert "No such file" in capsys.readouterr().err


def test_server_error_exits_1_and_names_the_code(env, tmp_path, capsys):
    env.respond(oss_error(403, "AccessDenied", "token used"))
    path = tmp_path / "b"
    path.write_bytes(b"x")
    assert run("send", "--route", ROUTE, "--token", "t", "--progress", "never", str(path)) == 1
    err = capsys.readouterr().err
    assert "AccessDenied" in err and "SeCrEtKeY" not in err


def test_stdin_pipe_is_spooled_and_sent_with_its_length(env):
    body = os.urandom(200_000)
    proc = subprocess.run([sys.executable, "-m", "ossfast", "send", "--route", ROUTE, "--token", "t", "-"],
                          input=body, capture_output=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr.decode()
    req = env.wait_for(1)[0]
    assert req.header("Content-Length") == str(len(body)) and req.crc64 == ossfast.crc64(body)
    assert b"MB/s" not in proc.stderr  # no terminal, no progress bar


def test_help_for_newcomers(capsys):
    with pytest.raises(SystemExit) as info:
        run("send", "--help")
    assert info.value.code == 0
    out = capsys.readouterr().out
    for words in ("--route", "--token", "ALIBABA_CLOUD_ACCESS_KEY_ID", "OSSFAST_ENDPOINT", "examples:"):
        assert words in out
    with pytest.raises(SystemExit):
        run("emulate", "--help")
    out = capsys.readouterr().out
    assert "--root" in out and "--handler" in out and "ossfast[emulator]" in out
    assert run() == 2  # no command: the overview on stderr
    assert "send" in capsys.readouterr().err


def test_installed_command():
    exe = os.path.join(os.path.dirname(sys.executable), "ossfast")
    if not os.path.exists(exe):
        pytest.skip("the ossfast command is not installed in this environment")
    proc = subprocess.run([exe, "--version"], capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.decode().strip() == f"ossfast {ossfast.__version__}"


def test_a_fifo_is_spooled(env, tmp_path):
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    body = os.urandom(50_000)

    def feed():
        with open(fifo, "wb") as f:
            f.write(body)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert run("send", "--route", ROUTE, "--token", "t", str(fifo)) == 0
    finally:
        writer.join(10)
    req = env.wait_for(1)[0]
    assert req.header("Content-Length") == str(len(body)) and req.crc64 == ossfast.crc64(body)


def test_emulate_on_a_busy_port_says_so_in_one_line(tmp_path, capsys):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        code = run("emulate", "--root", str(tmp_path), "--handler", "examples/uppercase.py:handler",
                   "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot listen" in err and "Traceback" not in err


def test_emulate_without_a_root(tmp_path, capsys):
    assert run("emulate", "--root", str(tmp_path / "nope"), "--handler", "x:y") == 2
    assert "not a directory" in capsys.readouterr().err


# ---- a user's side: no stdin, a terminal, secrets in errors and logs ------------------


def _cli(args, env_extra=None, **kw):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "ossfast", *args], capture_output=True, timeout=60,
                          env=env, **kw)


def test_closed_stdin_is_a_one_line_error(env):
    # CI jobs and cron may run with no standard input at all (fd 0 closed): sys.stdin is None
    args = " ".join(["send", "--route", ROUTE, "--token", "t", "--progress", "never", "-"])
    proc = subprocess.run(["sh", "-c", f'exec "{sys.executable}" -m ossfast {args} <&-'],
                          capture_output=True, timeout=60, env=dict(os.environ))
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "standard input" in err and env.accepted == 0


def test_stdin_from_a_terminal_is_refused_at_once(env):
    import pty

    leader, follower = pty.openpty()
    try:
        proc = _cli(["send", "--route", ROUTE, "--token", "t", "-"], stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "terminal" in err and "Traceback" not in err
    assert env.accepted == 0


def test_bad_credential_variables_exit_2_without_echoing_them(env, tmp_path):
    path = tmp_path / "b"
    path.write_bytes(b"x")
    proc = _cli(["send", "--route", ROUTE, "--token", "t", str(path)],
                {"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "SeCrEtKeY\x01"})
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in err
    assert "SeCrEtKeY" not in err and "Traceback" not in err and env.accepted == 0


def test_an_sts_key_without_its_token_is_caught_before_sending(env, tmp_path):
    # OSS answers "The Access Key ID does not exist" for an STS key sent without its token
    path = tmp_path / "b"
    path.write_bytes(b"x")
    env_vars = {k: v for k, v in os.environ.items() if k != "ALIBABA_CLOUD_SECURITY_TOKEN"}
    env_vars["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "STS.NUgYrLnoC37mZZCNnAbez2zR"
    proc = subprocess.run([sys.executable, "-m", "ossfast", "send", "--route", ROUTE, "--token", "t", str(path)],
                          capture_output=True, timeout=60, env=env_vars)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "ALIBABA_CLOUD_SECURITY_TOKEN" in err and "SeCrEtKeY" not in err and env.accepted == 0


def test_verbose_logging_shows_the_request_but_no_secret(env, tmp_path):
    path = tmp_path / "b"
    path.write_bytes(b"x" * 10)
    proc = _cli(["-vv", "send", "--route", ROUTE, "--token", "ToKeN-never-shown", str(path)],
                {"ALIBABA_CLOUD_SECURITY_TOKEN": "StS-never-shown"})
    assert proc.returncode == 0, proc.stderr.decode()
    err = proc.stderr.decode()
    assert "DEBUG" in err and ROUTE in err  # the request was logged
    auth = env.wait_for(1)[0].header("Authorization")
    signature = auth.rsplit("Signature=", 1)[1]
    assert env.wait_for(1)[0].header("x-oss-security-token") == "StS-never-shown"
    for secret in ("SeCrEtKeY", "ToKeN-never-shown", "StS-never-shown", signature):
        assert secret not in err, secret


def test_the_help_examples_parse_and_agree():
    import re
    import shlex

    for epilog in (cli.SEND_EPILOG, cli.EMULATE_EPILOG):
        for line in epilog.splitlines():
            line = line.split(" #")[0].strip().split(" | ")[-1]
            if line.startswith("ossfast "):
                argv = shlex.split(line.replace('"$ROUTE"', ROUTE).replace('"$TOKEN"', "t"))[1:]
                cli._parser().parse_args(argv)  # SystemExit (2) if a flag is wrong
    # the emulate example's curl lines must reach the port the example listens on
    example = re.search(r"ossfast (emulate .*)", cli.EMULATE_EPILOG).group(1).split(" #")[0]
    args = cli._parser().parse_args(shlex.split(example))
    ports = set(re.findall(r"curl .*http://127\.0\.0\.1:(\d+)/", cli.EMULATE_EPILOG))
    assert ports == {str(args.port)}, (args.port, ports)


def test_a_broken_stdout_after_a_successful_send_is_not_a_failure(env, tmp_path):
    # `ossfast send ... | head -c0`: the request went through; exit 1 would say it did not,
    # and a script retrying it would spend the single-use token again
    path = tmp_path / "b"
    path.write_bytes(b"x")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "ossfast", "send", "--route", ROUTE, "--token", "t",
                               "--json", str(path)], stdout=write_end, stderr=subprocess.PIPE, timeout=60,
                              env=dict(os.environ))
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert env.wait_for(1)[0].body_length == 1
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "standard output" in err
