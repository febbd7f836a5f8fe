import { InProcessTransport } from '../../../lib/transport/in-process.js';
import { transportConformance } from '../../support/transport-conformance.js';

transportConformance('in-process transport', async (service) => {
  const transport = new InProcessTransport(service);
  return { transport, cleanup: async () => transport.close() };
});
