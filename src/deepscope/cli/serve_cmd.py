"""`deepscope serve SITE`: serve a site built by `deepscope site` on 127.0.0.1 (never other interfaces)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve a site folder on 127.0.0.1",
                       description="Static files of SITE only: paths that leave the folder (.. or symlinks) get 403.")
    p.add_argument("site", help="folder written by `deepscope site`")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.app import make_server

    server = make_server(args.site, args.port)
    host, port = server.server_address[:2]
    print(f"serving {args.site} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
