/**
 * Membership providers: static list, watched file, Kubernetes. The
 * Kubernetes provider is not re-exported here because importing
 * @kubernetes/client-node costs ~0.5 s at startup: import it from
 * './kubernetes.js' only where it is used.
 */
export * from './types.js';
export { StaticMembership, parseMemberList, formatMemberList } from './static.js';
export { membershipFromEndpointSlices, type EndpointSliceRules, type EndpointSliceMembership, type AddressType } from './endpoint-slices.js';
export { FileMembership, MembersFileError, parseMembersFile, type FileMembershipOptions } from './file.js';
