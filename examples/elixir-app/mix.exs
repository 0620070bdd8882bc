defmodule ElixirApp.MixProject do
  use Mix.Project

  def project do
    [
      app: :elixir_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      # No hex packages: the web server is Erlang/OTP's own :inets httpd.
      deps: []
    ]
  end

  def application do
    [extra_applications: [:logger, :inets], mod: {ElixirApp.Application, []}]
  end
end
