/** "Did you mean ...?" for misspelt keys and values. */

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] as number;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(rows - 1, cols - 1);
}

/** Case, `-` versus `_` and spaces do not count as typos. */
function normalize(word: string): string {
  return word.toLowerCase().replace(/[-\s]/g, "_");
}

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * The candidate closest to `word`, if it is close enough to be a plausible typo: about one edit in
 * three characters (at least two edits allowed, one for words of three characters or fewer). Ties go
 * to the longer shared prefix (nodejs21 -> nodejs20, not nodejs12).
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const target = normalize(word);
  const allowed = target.length <= 3 ? 1 : Math.max(2, Math.floor(target.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  let bestPrefix = -1;
  for (const candidate of candidates) {
    const normalized = normalize(candidate);
    const distance = editDistance(target, normalized);
    const prefix = commonPrefix(target, normalized);
    if (distance < bestDistance || (distance === bestDistance && prefix > bestPrefix)) {
      best = candidate;
      bestDistance = distance;
      bestPrefix = prefix;
    }
  }
  return bestDistance <= allowed ? best : undefined;
}
