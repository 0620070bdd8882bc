defmodule ElixirApp.Server do
  @moduledoc "An :inets httpd instance linked to its supervisor (:stand_alone), answering with ElixirApp.Router."

  def child_spec(port) do
    %{id: __MODULE__, start: {__MODULE__, :start_link, [port]}}
  end

  def start_link(port) do
    :inets.start(:httpd, [
      port: port,
      bind_address: :any,
      server_name: ~c"elixir-app",
      # httpd wants both; nothing is served from them (ElixirApp.Router answers every request).
      server_root: ~c"/tmp",
      document_root: ~c"/tmp",
      modules: [ElixirApp.Router]
    ], :stand_alone)
  end
end
