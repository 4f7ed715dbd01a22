import { postgresTestDatabase, postgresUnavailable } from '../helpers/databases.ts';
import { storeConformance } from './store-conformance.ts';

storeConformance('PostgreSQL', postgresTestDatabase, await postgresUnavailable());
