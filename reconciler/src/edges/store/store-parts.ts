// The Store's methods grouped by aggregate, as each backend's parts implement them (sqlite-*.ts,
// pg-*.ts): one list per aggregate, so both backends implement the same methods in the same part.
import type { Store } from './store.ts';

export type AccessPart = Pick<
  Store,
  | 'saveUser'
  | 'getUser'
  | 'listUsers'
  | 'deleteUser'
  | 'createSession'
  | 'getSession'
  | 'deleteSession'
  | 'deleteExpiredSessions'
  | 'createApiToken'
  | 'findApiToken'
  | 'listApiTokens'
  | 'revokeApiToken'
>;

export type AuditPart = Pick<Store, 'appendAudit' | 'listAudit' | 'readAuditChain' | 'auditHead'>;

export type DeviceStatusPart = Pick<Store, 'saveDeviceStatuses' | 'recordDeviceOutcomes' | 'listDeviceStatuses'>;

export type DevicesPart = Pick<
  Store,
  | 'enrollDevice'
  | 'setCredential'
  | 'findDeviceByCredential'
  | 'findDeviceKey'
  | 'findDeviceKeys'
  | 'registerDeviceKey'
  | 'getDevice'
  | 'getDevicesMany'
  | 'listDevices'
  | 'listDeviceSummaries'
  | 'listDeviceInputs'
  | 'countDevices'
  | 'deleteDevice'
  | 'touchDevices'
>;

export type EnrollmentPart = Pick<
  Store,
  'listPendingDevices' | 'approveDevice' | 'rejectDevice' | 'armProvisioning' | 'disarmProvisioning' | 'getArming' | 'consumeArming' | 'pruneDiscovered'
>;

export type InventoryPart = Pick<Store, 'getInventory' | 'applyInventory' | 'getInventoryMany' | 'applyInventoryMany'>;

export type JobSequencesPart = Pick<Store, 'nextJobSequences' | 'raiseJobSequence'>;

export type JobsPart = Pick<
  Store,
  | 'createJobs'
  | 'markDispatched'
  | 'markRunning'
  | 'markRunningMany'
  | 'recordJobResult'
  | 'recordJobResults'
  | 'pendingJobs'
  | 'listJobs'
  | 'getJob'
  | 'countJobsByState'
  | 'cancelJobs'
  | 'getJobsMany'
  | 'openJobsMany'
  | 'rolloutJobsMany'
  | 'markJobsLost'
>;

export type ProvisioningPart = Pick<
  Store,
  | 'recordMachineBoot'
  | 'getPxeMachine'
  | 'listPxeMachines'
  | 'getProvisioning'
  | 'setProvisioningState'
  | 'allocateHostnameSeq'
  | 'startProvisioningRun'
  | 'findActiveRun'
  | 'listProvisioningRuns'
  | 'recordProvisioningStep'
  | 'listProvisioningSteps'
  | 'devicesAwaitingEnrollment'
  | 'markEnrolled'
>;

export type ReportsPart = Pick<Store, 'saveReports' | 'getObserved' | 'getObservedMany'>;

export type RevisionsPart = Pick<Store, 'recordRevision' | 'listRevisions' | 'getRevision' | 'latestAccepted'>;

export type RolloutsPart = Pick<Store, 'saveRollouts' | 'getRollout' | 'listRollouts' | 'currentRollouts'>;

export type TokensPart = Pick<
  Store,
  'createEnrollmentToken' | 'listEnrollmentTokens' | 'revokeEnrollmentToken' | 'consumeEnrollmentToken'
>;
