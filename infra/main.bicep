// Retail AI Advisor in one resource group: `azd up` provisions this and deploys the `api` service.
// No secret lives in this repository: secret values arrive as @secure() parameters (azd reads them
// from the environment, see main.parameters.json) and go only into Key Vault; the app reads them there
// at run time through KEY_VAULT_URL with its user-assigned managed identity.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; it names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource.')
param location string

@description('Object id of the person or pipeline deploying; gets Key Vault Secrets Officer to set secrets. Empty: none.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

// --- the function app ---
@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'

@description('Instances kept warm for the Durable trigger group (orchestrations, activities, entities).')
@minValue(0)
param durableAlwaysReadyInstances int = 1

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('The Shopify app\'s client id (API key). Not a secret.')
param shopifyClientId string

@description('Public origin of the app, e.g. a custom domain. Empty: the function app\'s default host name.')
param appBaseUrl string = ''

// --- the database: an existing Postgres URL (Supabase or any) or a new Azure flexible server ---
@allowed(['existingUrl', 'azurePostgres'])
param databaseMode string = 'existingUrl'

@secure()
@description('databaseMode existingUrl: the Postgres URL, stored only in Key Vault as DATABASE-URL.')
param databaseUrl string = ''

@description('True behind a transaction-mode pooler (Supabase port 6543): the app then prepares no statements.')
param databaseTransactionPooler bool = false

param postgresAdminLogin string = 'advisoradmin'

@secure()
@description('databaseMode azurePostgres: the administrator password of the new flexible server.')
param postgresAdminPassword string = ''

// --- Durable backend ---
@description('True: the Durable Task Scheduler (a managed backend); false: the Azure Storage provider.')
param useDurableTaskScheduler bool = false

// --- secrets: written to Key Vault when given, skipped when empty (set them later with az keyvault secret set) ---
@secure()
param shopifyClientSecret string = ''

@secure()
param shopifyClientSecretPrevious string = ''

@secure()
@description('Base64 of a 32-byte key, or keyid:base64 pairs separated by commas while rotating.')
param tokenEncryptionKey string = ''

@secure()
@description('Only if the Azure OpenAI resource allows keys; empty: the app signs in with its identity.')
param azureOpenAiApiKey string = ''

@secure()
param elevenLabsApiKey string = ''

@secure()
param veedApiKey string = ''

@secure()
param zenRowsApiKey string = ''

@secure()
param apideckApiKey string = ''

// --- optional providers: empty leaves the offline provider in charge ---
param azureOpenAiEndpoint string = ''
param veedEndpoint string = ''
param veedImageUrl string = ''
param apideckAppId string = ''

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))
var names = {
  resourceGroup: 'rg-${environmentName}'
  identity: 'id-${token}'
  storage: take('st${token}', 24)
  logs: 'log-${token}'
  appInsights: 'appi-${token}'
  keyVault: take('kv-${token}', 24)
  plan: 'plan-${token}'
  functionApp: 'func-${token}'
  postgres: 'psql-${token}'
  scheduler: 'dts-${token}'
  deploymentContainer: 'app-package-${take(token, 32)}'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: names.deploymentContainer
  }
}

module monitor 'core/monitor.bicep' = {
  name: 'monitor'
  scope: rg
  params: {
    logAnalyticsName: names.logs
    appInsightsName: names.appInsights
    location: location
    tags: tags
  }
}

module postgres 'core/postgres.bicep' = if (databaseMode == 'azurePostgres') {
  name: 'postgres'
  scope: rg
  params: {
    name: names.postgres
    location: location
    tags: tags
    administratorLogin: postgresAdminLogin
    administratorPassword: postgresAdminPassword
  }
}

// Built here, only ever passed to a @secure() parameter, so the password shows in no deployment record.
var azurePostgresUrl = databaseMode == 'azurePostgres' ? 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.outputs.fqdn}:5432/${postgres.outputs.databaseName}?sslmode=require' : ''

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    // Key Vault secret names are the setting names with dashes (shared/secrets.py key_vault_name).
    secretValues: {
      'DATABASE-URL': databaseMode == 'azurePostgres' ? azurePostgresUrl : databaseUrl
      'TOKEN-ENCRYPTION-KEY': tokenEncryptionKey
      'SHOPIFY-CLIENT-SECRET': shopifyClientSecret
      'SHOPIFY-CLIENT-SECRET-PREVIOUS': shopifyClientSecretPrevious
      'AZURE-OPENAI-API-KEY': azureOpenAiApiKey
      'ELEVENLABS-API-KEY': elevenLabsApiKey
      'VEED-API-KEY': veedApiKey
      'ZENROWS-API-KEY': zenRowsApiKey
      'APIDECK-API-KEY': apideckApiKey
    }
  }
}

module scheduler 'core/dts.bicep' = if (useDurableTaskScheduler) {
  name: 'durable-task-scheduler'
  scope: rg
  params: {
    name: names.scheduler
    taskHubName: 'retailaiadvisor'
    location: location
    tags: tags
  }
}

module rbac 'core/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitor.outputs.appInsightsName
    schedulerName: useDurableTaskScheduler ? scheduler.outputs.name : ''
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module functionApp 'app/function.bicep' = {
  name: 'function-app'
  scope: rg
  dependsOn: [rbac]
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    pythonVersion: pythonVersion
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: names.deploymentContainer
    appInsightsConnectionString: monitor.outputs.appInsightsConnectionString
    keyVaultUri: keyVault.outputs.uri
    shopifyClientId: shopifyClientId
    appBaseUrl: appBaseUrl
    azureOpenAiEndpoint: azureOpenAiEndpoint
    veedEndpoint: veedEndpoint
    veedImageUrl: veedImageUrl
    apideckAppId: apideckAppId
    databaseTransactionPooler: databaseTransactionPooler
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    schedulerEndpoint: useDurableTaskScheduler ? scheduler.outputs.endpoint : ''
    taskHubName: useDurableTaskScheduler ? scheduler.outputs.taskHubName : 'retailaiadvisor'
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.baseUrl
output SHOPIFY_REDIRECT_URL string = '${functionApp.outputs.baseUrl}/api/auth/shopify/callback'
output SHOPIFY_WEBHOOK_URL string = '${functionApp.outputs.baseUrl}/api/webhooks/shopify'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URL string = keyVault.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
