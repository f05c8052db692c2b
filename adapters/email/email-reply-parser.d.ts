// The package ships no types; only the part of its API the email adapter calls is declared.
declare module 'email-reply-parser' {
  class Fragment {
    getContent(): string;
    isHidden(): boolean;
    isSignature(): boolean;
    isQuoted(): boolean;
    isEmpty(): boolean;
  }

  class Email {
    getFragments(): Fragment[];
    /** The fragments that are neither quoted history nor signature, joined with newlines. */
    getVisibleText(): string;
    getQuotedText(): string;
  }

  class EmailReplyParser {
    read(text: string): Email;
    parseReply(text: string): string;
    parseReplied(text: string): string;
  }

  export = EmailReplyParser;
}
