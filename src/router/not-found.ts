/** The page a request gets when no app answers to its host: it names the host, so the cause is plain. */
export function unknownHostPage(host: string, domain: string): string {
  const safe = escapeHtml(host);
  return `<!doctype html><html><head><meta charset="utf-8"><title>404 — no app at ${safe}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>No app is deployed at ${safe}</h1>
<p>Strata routes <code>APP.${escapeHtml(domain)}</code> to the app named APP, and
<code>VERSION-dot-APP.${escapeHtml(domain)}</code> to one version of it.
Run <code>strata apps</code> to see what is deployed, or <code>strata deploy</code> to deploy this app.</p>
</body></html>
`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
