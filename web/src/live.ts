/** The server's event stream, reconnecting on its own (EventSource does), with its state for the banner. */
import { type ChangeableList, changeableLists, type ListChangedEvent, type LiveEvent } from '../../src/inbox/live-event.js';

export type { ChangeableList, LiveEvent };
export { changeableLists, passingEventKinds } from '../../src/inbox/live-event.js';

export type LiveState = 'connecting' | 'online' | 'reconnecting' | 'offline';

type Listener = (event: LiveEvent) => void;

const listeners = new Set<Listener>();
const listListeners = new Set<(list: ChangeableList) => void>();
const stateListeners = new Set<(state: LiveState) => void>();
let source: EventSource | undefined;
let state: LiveState = 'connecting';

function setState(next: LiveState): void {
  if (next === state) return;
  state = next;
  for (const listener of stateListeners) listener(state);
}

export function startLive(): void {
  if (source) return;
  const open = () => {
    source = new EventSource('/api/v1/events');
    source.addEventListener('open', () => {
      setState('online');
      // Whatever changed before the stream was open (or while it was down) went unheard: fetch every list again.
      for (const list of changeableLists) for (const listener of listListeners) listener(list);
    });
    source.addEventListener('changed', (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as ListChangedEvent;
      for (const listener of listListeners) listener(event.list);
    });
    source.addEventListener('activity', (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as LiveEvent;
      for (const listener of listeners) listener(event);
    });
    source.addEventListener('error', () => {
      if (!navigator.onLine) setState('offline');
      else setState('reconnecting');
      // A closed stream (the server answered an error) is not retried by the browser: retry here.
      if (source?.readyState === EventSource.CLOSED) {
        source = undefined;
        setTimeout(() => {
          if (!source) open();
        }, 3000);
      }
    });
  };
  window.addEventListener('offline', () => setState('offline'));
  // Back online: the old stream may be half-dead without knowing it; start a fresh one.
  window.addEventListener('online', () => {
    setState('reconnecting');
    source?.close();
    source = undefined;
    open();
  });
  open();
}

export function stopLive(): void {
  source?.close();
  source = undefined;
}

export function onLive(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A workspace list (users, products, segments, sources) changed: pickers fetch it again. */
export function onListChanged(list: ChangeableList, listener: () => void): () => void {
  const filtered = (changed: ChangeableList) => changed === list && listener();
  listListeners.add(filtered);
  return () => listListeners.delete(filtered);
}

export function onLiveState(listener: (state: LiveState) => void): () => void {
  stateListeners.add(listener);
  listener(state);
  return () => stateListeners.delete(listener);
}

/** A short two-tone chime made on the spot: no sound file to fetch, works in a background tab. */
export function chime(): void {
  const AudioContextClass = window.AudioContext;
  if (!AudioContextClass) return;
  const context = new AudioContextClass();
  const now = context.currentTime;
  for (const [index, frequency] of [880, 1320].entries()) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, now + index * 0.15);
    gain.gain.exponentialRampToValueAtTime(0.2, now + index * 0.15 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + index * 0.15 + 0.3);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(now + index * 0.15);
    oscillator.stop(now + index * 0.15 + 0.32);
  }
  setTimeout(() => void context.close(), 1000);
}
