/**
 * The Mix task a build runs instead of plain `mix release`: it registers one more source for dependencies
 * (Mix's public SCM behaviour, `Mix.SCM.append/1`), then runs `release`. Builds have no Hex client and no
 * network, so a dependency written in hex form (`{:jason, "~> 1.4"}`) is taken from where `mix deps.get`
 * left it, the app's `deps/<name>` folder, and built in place as a path dependency is. A hex-form
 * dependency with no such folder is claimed by no SCM, and Mix fails naming it (missing-deps.ts reads that).
 * Compiled with elixirc in the build step, found through MIX_PATH.
 */
export const TASK = "strata.release";

export const VENDORED_DEPS_SOURCE = `# Written by Strata's Elixir buildpack (src/build/elixir/vendored-deps.ts).
defmodule Mix.Tasks.Strata.Release do
  @moduledoc "mix release, with hex packages taken from the app's deps/ folder (no Hex client, no network)."
  use Mix.Task

  @impl true
  def run(args) do
    Mix.SCM.append(Strata.VendoredDeps)
    Mix.Task.run("release", args)
  end
end

defmodule Strata.VendoredDeps do
  @moduledoc false
  @behaviour Mix.SCM

  def fetchable?, do: false
  def format(opts), do: "vendored in " <> Path.relative_to_cwd(opts[:dest])
  def format_lock(_opts), do: nil

  # Hex form only (no git, github, path or in_umbrella option), and only when its source is there.
  def accepts_options(_app, opts) do
    other = Enum.any?([:git, :github, :path, :in_umbrella], &Keyword.has_key?(opts, &1))
    if not other and is_binary(opts[:dest]) and File.dir?(opts[:dest]), do: opts, else: nil
  end

  def checked_out?(opts), do: File.dir?(opts[:dest])
  # mix.lock pins what deps.get fetched; the vendored folder is that, so there is nothing to compare.
  def lock_status(_opts), do: :ok
  def equal?(a, b), do: a[:dest] == b[:dest]
  def managers(_opts), do: []
  def checkout(opts), do: Mix.raise("cannot fetch " <> Path.relative_to_cwd(opts[:dest]) <> ": builds have no network; vendor it")
  def update(opts), do: opts[:lock]
end
`;
