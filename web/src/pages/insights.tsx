import { useApp } from '../context.js';

/** Reserved for the insights charts (leads by channel and stage, response times, quota progress). */
export function InsightsPage() {
  const { t } = useApp();
  return (
    <section class="placeholder-page">
      <h2>{t.navInsights}</h2>
      <p>{t.insightsSoon}</p>
    </section>
  );
}
