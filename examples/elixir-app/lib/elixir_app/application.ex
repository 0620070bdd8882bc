defmodule ElixirApp.Application do
  @moduledoc "Starts Erlang's :inets httpd on $PORT under the app's supervisor."
  use Application
  require Logger

  @impl true
  def start(_type, _args) do
    port = Application.fetch_env!(:elixir_app, :port)
    Logger.info("listening on :#{port}")
    Supervisor.start_link([{ElixirApp.Server, port}], strategy: :one_for_one, name: ElixirApp.Supervisor)
  end
end
