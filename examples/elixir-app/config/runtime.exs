import Config

# Read when the release boots, so the port is the instance's, not the build machine's.
config :elixir_app, port: String.to_integer(System.get_env("PORT") || "8080")
