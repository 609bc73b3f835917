"""Device connections: the native websocket protocol (XiaoZhi and EchoKit dialects later)."""
