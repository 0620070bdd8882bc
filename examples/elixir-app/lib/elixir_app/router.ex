defmodule ElixirApp.Router do
  @moduledoc "The app's routes, as an :inets httpd callback module (httpd's `do/1`)."
  require Record
  Record.defrecordp(:mod, Record.extract(:mod, from_lib: "inets/include/httpd.hrl"))

  def unquote(:do)(request) do
    path = request |> mod(:request_uri) |> to_string() |> String.split("?") |> hd()
    {status, body} = route(mod(request, :method), path)
    headers = [code: status, content_type: ~c"text/plain; charset=utf-8", content_length: ~c"#{byte_size(body)}"]
    {:proceed, [response: {:response, headers, [body]}]}
  end

  defp route(~c"GET", "/") do
    {200, "Hello from Elixir on Strata (service #{System.get_env("GAE_SERVICE")}, version #{System.get_env("GAE_VERSION")})\n"}
  end

  defp route(~c"GET", "/runtime") do
    {200, "Elixir #{System.version()}, Erlang/OTP #{System.otp_release()}, erts #{:erlang.system_info(:version)}\n"}
  end

  defp route(~c"GET", "/healthz") do
    {uptime_ms, _} = :erlang.statistics(:wall_clock)
    {200, "ok, up #{div(uptime_ms, 1000)} s\n"}
  end

  defp route(_method, path), do: {404, "no route for #{path}\n"}
end
