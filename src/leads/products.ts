/**
 * Finding the products a lead asks about in what they wrote. Matching ignores case and accents
 * and treats singular and plural as one word, in Portuguese and English ("cartões" finds the
 * keyword "cartão"; "solar panels" finds "solar panel").
 */

/** Lower case without accents: "Cartão" → "cartao". */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().trim();
}

/** One folded word reduced to a singular-ish form; both sides of a comparison go through it. */
export function singular(word: string): string {
  if (word.length <= 3) return word;
  if (/(oes|aes|aos)$/.test(word)) return `${word.slice(0, -3)}ao`;
  if (word.endsWith('ns')) return `${word.slice(0, -2)}m`;
  if (/[aeiou]is$/.test(word) && word.length > 4) return `${word.slice(0, -2)}l`;
  if (/(ses|zes|res|xes|ches|shes)$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

function words(text: string): string[] {
  return fold(text)
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .map(singular);
}

/** Whether the keyword (a word or a phrase) appears in the text as whole words. */
export function mentions(text: string, keyword: string): boolean {
  const wanted = words(keyword);
  if (wanted.length === 0) return false;
  const said = words(text);
  for (let start = 0; start + wanted.length <= said.length; start++) {
    if (wanted.every((word, offset) => said[start + offset] === word)) return true;
  }
  return false;
}

/** The products whose name or any keyword the text mentions, in catalogue order. */
export function productsMentioned<P extends { name: string; keywords: string[] }>(text: string, products: P[]): P[] {
  return products.filter((product) => [product.name, ...product.keywords].some((keyword) => mentions(text, keyword)));
}
