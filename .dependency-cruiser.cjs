/**
 * The import boundaries `npm test` keeps (`npm run lint` checks them alone). Type-only imports count:
 * they are what the compiler sees, and what the next reader follows.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules that import each other in a circle cannot be read, loaded or tested one at a time.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-reaches-adapters-through-the-registry',
      severity: 'error',
      comment:
        'src/ depends on the channel contract; it reaches the adapters only through adapters/index.ts, the list of built-in adapters the gateway puts in its registry.',
      from: { path: '^src/' },
      to: { path: '^adapters/', pathNot: '^adapters/index\\.ts$' },
    },
    {
      name: 'adapters-stand-alone',
      severity: 'error',
      comment:
        'One channel never imports another channel: what they share belongs in src/channels/. Meta\'s channels (WhatsApp Cloud API, Instagram, Lead Ads) share adapters/meta/, their webhook signature and Graph API client, which imports no channel.',
      from: { path: '^adapters/([^/]+)/' },
      to: { path: '^adapters/', pathNot: ['^adapters/$1/', '^adapters/meta/'] },
    },
    {
      name: 'web-stands-apart',
      severity: 'error',
      comment:
        'The inbox page is its own build: from the server it takes only the shape of the live events it receives, and the server never imports the page.',
      from: { path: '^web/' },
      to: { path: '^(src|adapters|test|bench|scripts)/', pathNot: '^src/inbox/live-event\\.ts$' },
    },
    {
      name: 'server-never-imports-web',
      severity: 'error',
      from: { path: '^(src|adapters)/' },
      to: { path: '^web/' },
    },
    {
      name: 'production-never-imports-tests',
      severity: 'error',
      comment: 'Running code never depends on test helpers, benchmarks or scripts.',
      from: { path: '^(src|adapters)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'production-never-imports-dev-dependencies',
      severity: 'error',
      comment: 'npm install --omit=dev leaves devDependencies out: what runs must not need them.',
      from: { path: '^(src|adapters)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^web/dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
