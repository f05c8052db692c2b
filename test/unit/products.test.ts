import { describe, expect, it } from 'vitest';
import { mentions, productsMentioned, singular } from '../../src/leads/products.js';

describe('finding products in what a lead wrote', () => {
  it('reduces Portuguese and English plurals to one form', () => {
    expect(singular('cartoes')).toBe(singular('cartao'));
    expect(singular('viagens')).toBe(singular('viagem'));
    expect(singular('animais')).toBe(singular('animal'));
    expect(singular('flores')).toBe(singular('flor'));
    expect(singular('panels')).toBe(singular('panel'));
    expect(singular('batteries')).toBe(singular('battery'));
    expect(singular('boxes')).toBe(singular('box'));
    expect(singular('glass')).toBe('glass');
  });

  it('matches whole words and phrases, ignoring case and accents', () => {
    expect(mentions('Quero um CARTÃO DE CRÉDITO', 'cartao de credito')).toBe(true);
    expect(mentions('Preciso de painéis solares', 'painel solar')).toBe(true);
    expect(mentions('We need solar panels on the roof', 'Solar panel')).toBe(true);
    expect(mentions('cartão e crédito', 'cartão de crédito')).toBe(false);
    // A keyword inside another word is not a mention.
    expect(mentions('Seguradora ligou', 'seguro')).toBe(false);
    expect(mentions('anything', '')).toBe(false);
  });

  it('lists every product named or hinted at, in catalogue order', () => {
    const catalogue = [
      { name: 'Energia Solar', keywords: ['painel solar', 'solar panel'] },
      { name: 'Seguro', keywords: ['seguro de vida', 'life insurance'] },
      { name: 'Consórcio', keywords: [] },
    ];
    expect(productsMentioned('Quanto custa um consorcio? E seguro de vida?', catalogue).map((p) => p.name)).toEqual(['Seguro', 'Consórcio']);
    expect(productsMentioned('Hello', catalogue)).toEqual([]);
  });
});
