// oidc-provider ships no type declarations; the browser tests use it as the identity provider they sign in through.
declare module 'oidc-provider' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const Provider: any;
  export default Provider;
  export const errors: { InvalidTarget: new (description?: string) => Error };
}
