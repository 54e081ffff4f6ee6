"""Stack traces of each language parse into frames, innermost first, with application code marked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.errortracking import Frame, stack_frames

from . import error_stacks


def identities(frames: list[Frame]) -> list[tuple[str, str, bool]]:
    return [(frame.module, frame.function, frame.in_app) for frame in frames]


def test_a_python_traceback_reads_innermost_first_with_library_frames_marked() -> None:
    frames = stack_frames(error_stacks.python_traceback())
    assert frames[0].module == "yaml/parser.py" and not frames[0].in_app
    in_app = [(frame.module, frame.function) for frame in frames if frame.in_app]
    assert in_app == [
        ("tests/errortracking/error_stacks.py", "_decode_setting"),
        ("tests/errortracking/error_stacks.py", "_load_settings"),
        ("tests/errortracking/error_stacks.py", "_handle_request"),
        ("tests/errortracking/error_stacks.py", "python_traceback"),
    ]
    standard_library = [frame for frame in frames if frame.module.startswith("json/")]
    assert standard_library and not any(frame.in_app for frame in standard_library)
    assert all(frame.line is not None for frame in frames)


def test_a_chained_python_traceback_gives_the_frames_of_the_exception_raised() -> None:
    frames = stack_frames(error_stacks.chained_python_traceback())
    assert [frame.function for frame in frames] == ["chained_python_traceback"]


def test_node_frames() -> None:
    assert identities(stack_frames(error_stacks.NODE)) == [
        ("src/orders/service.js", "OrderService.place", True),
        ("src/http/router.js", "Router.handle", True),
        ("src/http/server.js", "<anonymous>", True),
        ("express/lib/router/layer.js", "Layer.handle", False),
        ("node:internal/process/task_queues", "processTicksAndRejections", False),
    ]
    assert stack_frames(error_stacks.NODE)[0].line == 42


def test_jvm_frames_stop_at_the_cause() -> None:
    assert identities(stack_frames(error_stacks.JAVA)) == [
        ("com.acme.orders.OrderService", "pay", True),
        ("com.acme.orders.OrderService$$Lambda", "apply", True),
        ("jdk.internal.reflect.NativeMethodAccessorImpl", "invoke0", False),
        ("jdk.internal.reflect.NativeMethodAccessorImpl", "invoke", False),
        ("org.springframework.web.servlet.FrameworkServlet", "service", False),
        ("com.acme.orders.OrderController", "pay", True),
        ("java.lang.Thread", "run", False),
    ]


def test_go_frames_of_the_panicking_goroutine() -> None:
    assert identities(stack_frames(error_stacks.GO)) == [
        ("runtime", "panic", False),
        ("github.com/acme/orders/internal/service", "(*OrderService).Place", True),
        ("github.com/acme/orders/internal/http", "(*Handler).CreateOrder", True),
        ("net/http", "HandlerFunc.ServeHTTP", False),
        ("github.com/go-chi/chi/v5", "(*Mux).routeHTTP", False),
        ("main", "main.func1", True),
        ("net/http", "(*Server).Serve", False),
    ]


def test_ruby_frames_old_and_new_quoting() -> None:
    assert identities(stack_frames(error_stacks.RUBY)) == [
        ("app/services/order_service.rb", "OrderService#place", True),
        ("app/controllers/orders_controller.rb", "OrdersController#create", True),
        ("actionpack/lib/action_controller/metal/basic_implicit_render.rb", "send_action", False),
        ("benchmark.rb", "realtime", False),
        ("actionpack/lib/abstract_controller/base.rb", "process_action", False),
    ]


@pytest.mark.parametrize(
    ("stack", "module"),
    [
        ('  File "/srv/releases/2024-06-11/app/orders/service.py", line 3, in place', "app/orders/service.py"),
        ('  File "/home/dev/checkout/app/orders/service.py", line 3, in place', "app/orders/service.py"),
        ('  File "C:\\Users\\dev\\app\\orders\\service.py", line 3, in place', "app/orders/service.py"),
        ("    at place (file:///srv/app/dist/main.3f2a1b9c.js:1:2)", "app/dist/main.js"),
        ("    at place (webpack:///src/orders/service.ts:1:2)", "src/orders/service.ts"),
    ],
)
def test_machine_specific_prefixes_and_build_hashes_are_dropped(stack: str, module: str) -> None:
    assert stack_frames(stack)[0].module == module


@pytest.mark.parametrize(
    "stack",
    [
        '  File "/usr/lib/python3/dist-packages/requests/api.py", line 1, in get',
        '  File "<frozen importlib._bootstrap>", line 1, in _find_and_load',
        '  File "/usr/local/lib/python3.12/asyncio/events.py", line 1, in _run',
        "    at Module._compile (node:internal/modules/cjs/loader:1256:14)",
        "\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:750)",
        "\tat sun.nio.ch.SocketDispatcher.read0(Native Method)",
        "/usr/lib/ruby/3.1.0/net/http.rb:1:in 'request'",
    ],
)
def test_libraries_and_runtimes_are_not_application_code(stack: str) -> None:
    (frame,) = stack_frames(stack)
    assert not frame.in_app


@pytest.mark.parametrize("stack", [None, "", "just a message", "Error: boom\n    at async Promise.all (index 0)"])
def test_text_without_frames_gives_none(stack: str | None) -> None:
    assert stack_frames(stack) == []


def test_a_huge_stack_is_read_by_head_and_tail() -> None:
    line = '  File "/app/orders/deep.py", line 1, in recurse\n'
    stack = "Traceback (most recent call last):\n" + line * 20_000 + '  File "/app/orders/leaf.py", line 9, in fail\n'
    frames = stack_frames(stack)
    assert frames[0].function == "fail"
    assert len(frames) <= 256


stack_lines = st.sampled_from(
    [
        'File "/a/b.py", line 1, in f',
        "    at f (/a/b.js:1:2)",
        "\tat a.B.c(B.java:1)",
        "main.f(0x1)",
        "\t/a/b.go:1 +0x1",
        "/a/b.rb:1:in 'f'",
        "goroutine 1 [running]:",
        "Traceback (most recent call last):",
        "Caused by: x",
        "",
    ]
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.one_of(stack_lines, st.text(max_size=80)), max_size=40).map("\n".join))
def test_any_text_parses_without_error(stack: str) -> None:
    frames = stack_frames(stack)
    assert len(frames) <= 256
    assert all(isinstance(frame, Frame) for frame in frames)
