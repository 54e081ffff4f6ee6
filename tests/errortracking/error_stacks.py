"""Stack traces of each language, as their runtimes print them, and a real Python one."""

from __future__ import annotations

import json
import re
import traceback

import yaml


def _decode_setting(pairs: list[tuple[str, str]]) -> object:
    return yaml.safe_load(dict(pairs)["value"])  # raises inside site-packages


def _load_settings(text: str) -> object:
    return json.loads(text, object_pairs_hook=_decode_setting)  # calls back through the standard library


def _handle_request(text: str) -> object:
    return _load_settings(text)


def _handle_other_request(text: str) -> object:
    return json.loads(text, object_pairs_hook=_decode_setting)


def python_traceback(*, other_route: bool = False) -> str:
    """A real traceback: app -> json (stdlib) -> app -> yaml (site-packages), raising yaml's ParserError."""
    handler = _handle_other_request if other_route else _handle_request
    try:
        handler('{"value": "a: [1, 2"}')
    except yaml.YAMLError:
        return traceback.format_exc()
    raise AssertionError("the settings parsed")


def chained_python_traceback() -> str:
    """A ``raise ... from`` chain: the last traceback is the one raised."""
    try:
        try:
            _handle_request('{"value": "a: [1, 2"}')
        except yaml.YAMLError as exc:
            raise RuntimeError("settings unreadable") from exc
    except RuntimeError:
        return traceback.format_exc()
    raise AssertionError("the settings parsed")


def shift_line_numbers(stack: str, by: int = 7) -> str:
    """``stack`` as if code had been added above every frame: each line number moved by ``by``."""
    return re.sub(
        r"(line |\.\w+:|:)(\d+)",
        lambda match: f"{match[1]}{int(match[2]) + by}",
        stack,
    )


NODE = """TypeError: Cannot read properties of undefined (reading 'id')
    at OrderService.place (/srv/releases/20240611-3/src/orders/service.js:42:19)
    at async Router.handle [as post] (/srv/releases/20240611-3/src/http/router.js:88:7)
    at async /srv/releases/20240611-3/src/http/server.js:31:5
    at Layer.handle [as handle_request] (/srv/releases/20240611-3/node_modules/express/lib/router/layer.js:95:5)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)"""

NODE_LIBRARY_ONLY = """Error: connect ECONNREFUSED 127.0.0.1:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)"""

JAVA = """java.lang.IllegalStateException: Order 12345 is already paid
\tat com.acme.orders.OrderService.pay(OrderService.java:87)
\tat com.acme.orders.OrderService$$Lambda$1234/0x0000000800c0b000.apply(Unknown Source)
\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke(NativeMethodAccessorImpl.java:77)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)
\tat app//com.acme.orders.OrderController.pay(OrderController.java:41)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.sql.SQLException: Connection is closed
\tat com.zaxxer.hikari.pool.ProxyConnection.lambda$getClosedConnection$0(ProxyConnection.java:515)
\tat com.acme.orders.OrderRepository.save(OrderRepository.java:30)
\t... 12 more"""

GO = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6c2f3a]

goroutine 34 [running]:
panic({0x6d1e60?, 0xc000012345?})
\t/usr/local/go/src/runtime/panic.go:914 +0x21f
github.com/acme/orders/internal/service.(*OrderService).Place(0x0, {0x8a2f40, 0xc0001a2000}, 0xc000214000)
\t/home/runner/work/orders/internal/service/orders.go:42 +0x3a
github.com/acme/orders/internal/http.(*Handler).CreateOrder(0xc00012e0a0, {0x8a5e20, 0xc0002200e0}, 0xc000214000)
\t/home/runner/work/orders/internal/http/handler.go:57 +0x1c5
net/http.HandlerFunc.ServeHTTP(0x0?, {0x8a5e20?, 0xc0002200e0?}, 0x0?)
\t/usr/local/go/src/net/http/server.go:2136 +0x29
github.com/go-chi/chi/v5.(*Mux).routeHTTP(0xc0000a4060, {0x8a5e20, 0xc0002200e0}, 0xc000214000)
\t/root/go/pkg/mod/github.com/go-chi/chi/v5@v5.0.10/mux.go:444 +0x216
main.main.func1()
\t/home/runner/work/orders/cmd/orders/main.go:25 +0x25
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3086 +0x5cb

goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f0c2c1d8e28, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:343 +0x85
"""

RUBY = """/app/app/services/order_service.rb:42:in 'OrderService#place': Order 123 is already paid (Orders::AlreadyPaid)
\tfrom /app/app/controllers/orders_controller.rb:17:in 'OrdersController#create'
\tfrom /usr/local/bundle/gems/actionpack-7.1.3/lib/action_controller/metal/basic_implicit_render.rb:6:in 'send_action'
\tfrom /usr/local/lib/ruby/3.3.0/benchmark.rb:311:in `realtime'
\tfrom /usr/local/bundle/gems/actionpack-7.1.3/lib/abstract_controller/base.rb:224:in `process_action'"""
