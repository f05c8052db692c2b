import { describe, expect, it } from 'vitest';
import { isOptOut } from '../../adapters/twilio/index.js';

describe('SMS opt-out words', () => {
  it.each(['STOP', 'stop', 'Unsubscribe', 'cancel', 'END', 'quit', 'SAIR', 'sair.', 'Parar!', 'CANCELAR', 'pare', 'descadastrar'])('%s opts out', (text) => {
    expect(isOptOut(text)).toBe(true);
  });
  it.each(['stop calling me at night please', 'Quero sair para almoçar', 'parabéns', '', 'Olá'])('"%s" does not', (text) => {
    expect(isOptOut(text)).toBe(false);
  });
});
