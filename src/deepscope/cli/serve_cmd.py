"""`deepscope serve SITE`: serve a site built by `deepscope site` on 127.0.0.1 (never other interfaces)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve a site folder on 127.0.0.1",
                       description="Static files of SITE only: paths that leave the folder (.. or symlinks) get "
                                   "403, dot paths (.build/, .work/) 404.")
    p.add_argument("site", help="folder written by `deepscope site`")
    p.add_argument("--port", type=int, default=8000, help="port, 1 to 65535 (default 8000)")
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.app.server import check_port, make_server

    check_port(args.port, any_free=False)
    server = make_server(args.site, args.port)
    host, port = server.server_address[:2]
    print(f"serving {args.site} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
