{
  "targets": [
    {
      "target_name": "tcp_guard",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["src/addon.c", "src/guard.c", "src/conn_table.c", "src/plt_hook.c"],
          "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
          "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
