/** The providers whose mailboxes sign in with OAuth 2.0. */
export const oauthProviders = ['google', 'microsoft'] as const;
export type OAuthProvider = (typeof oauthProviders)[number];

/** A provider's authorization and token endpoints; `{tenant}` stands for the source's tenant. */
export interface OAuthEndpoints {
  authorizeUrl: string;
  tokenUrl: string;
}

export const defaultOAuthEndpoints: Record<OAuthProvider, OAuthEndpoints> = {
  google: { authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth', tokenUrl: 'https://oauth2.googleapis.com/token' },
  microsoft: {
    authorizeUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize',
    tokenUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
  },
};
