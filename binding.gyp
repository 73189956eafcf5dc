{
  "targets": [
    {
      "target_name": "xmesh_native",
      "sources": [
        "<!@(find native/src -name '*.c' -o -name '*.cc' | sort)",
        "native/gen/xmesh/dataplane/v1/snapshot.pb-c.c"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "native/src",
        "native/gen",
        "bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GNU_SOURCE"],
      "cflags": ["-O2", "-g", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions"],
      "cflags!": ["-fno-exceptions"],
      "libraries": ["-lprotobuf-c", "-lbpf", "-lpcre2-8", "-luring", "-lpthread"]
    }
  ]
}
