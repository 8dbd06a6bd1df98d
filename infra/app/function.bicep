// The function app on a Flex Consumption plan, Python on Linux, running as the user-assigned identity.
param name string
param planName string
param location string
param tags object = {}

@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'

param identityId string
param identityClientId string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param appInsightsConnectionString string
param keyVaultUri string
param shopifyClientId string
param appBaseUrl string = ''
@description('Azure OpenAI endpoint for the briefing script; empty: the template writer.')
param azureOpenAiEndpoint string = ''
@description('VEED model queue endpoint; empty: the local ffmpeg renderer.')
param veedEndpoint string = ''
@description('Presenter image for VEED; empty: the title slide.')
param veedImageUrl string = ''
@description('Apideck application id; empty: no accounting costs.')
param apideckAppId string = ''
param databaseTransactionPooler bool = false
param durableAlwaysReadyInstances int = 1
param maximumInstanceCount int = 100
param instanceMemoryMB int = 2048

@description('Empty: Durable keeps its state in the host storage account.')
param schedulerEndpoint string = ''
param taskHubName string = 'retailaiadvisor'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references, should any be added, resolve with the user-assigned identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // Orchestrations, activities and entities scale as one group, `durable`: keep it warm so a
        // timer-started run does not wait for a cold start.
        alwaysReady: [
          {
            name: 'durable'
            instanceCount: durableAlwaysReadyInstances
          }
        ]
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

var baseUrl = empty(appBaseUrl) ? 'https://${site.properties.defaultHostName}' : appBaseUrl

// Every setting the app reads (shared/settings.py), one line each: adding a setting to the model
// means adding its line here (tests/infra/test_app_settings.py says which is missing).
// Secrets are NOT here: with KEY_VAULT_URL set the app reads them from Key Vault (shared/secrets.py).
var appSettings = {
  // database
  DATABASE_TRANSACTION_POOLER: databaseTransactionPooler ? 'true' : 'false'
  DATABASE_POOL_MAX_SIZE: '4'
  // secrets
  KEY_VAULT_URL: keyVaultUri
  SECRET_CACHE_TTL_SECONDS: '300'
  // Shopify
  SHOPIFY_CLIENT_ID: shopifyClientId
  SHOPIFY_API_VERSION: '2026-10'
  SHOPIFY_SCOPES: 'read_products,read_inventory,read_orders'
  SHOPIFY_ADMIN_BASE_URL: 'https://{shop}'
  SHOPIFY_ORDER_HISTORY_DAYS: '365'
  SHOPIFY_BULK_SYNC_MIN_VARIANTS: '2000'
  CATALOG_CSV_MAX_BYTES: '15000000'
  APP_BASE_URL: baseUrl
  BRIEFING_LINK_HOURS: '72'
  // schedule and Durable
  DAILY_SCHEDULE: '0 0 2 * * *'
  WEBHOOK_SWEEP_SCHEDULE: '0 */10 * * * *'
  TASKHUB_NAME: taskHubName
  // market signals
  COMPETITOR_FETCH_INTERVAL_SECONDS: '1.0'
  COMPETITOR_FETCH_TIMEOUT_SECONDS: '15.0'
  COMPETITOR_FETCH_MAX_BYTES: '3000000'
  COMPETITOR_FETCH_CONCURRENCY: '5'
  COMPETITOR_FETCH_ALLOW_PRIVATE_NETWORKS: 'false'
  COMPETITOR_PRICE_MAX_AGE_HOURS: '48'
  FETCH_USER_AGENT: 'RetailAIAdvisorBot/0.1 (+https://retail-ai-advisor.example/bot)'
  TRENDS_BASE_URL: 'https://trends.google.com'
  TRENDS_GEO: 'GB'
  TRENDS_TIMEFRAME: 'today 3-m'
  TRENDS_ANCHOR_KEYWORD: 'gift'
  // pricing defaults
  PRICING_MIN_MARGIN_PCT: '20.0'
  PRICING_MAX_CHANGE_PCT: '10.0'
  PRICING_POSITION: 'median'
  PRICING_OFFSET_PCT: '0.0'
  PRICING_ROUNDING: '.99'
  // briefing media
  SPEECH_VOICE: 'en-gb'
  SPEECH_WORDS_PER_MINUTE: '165'
  LOCAL_DATA_DIR: '/tmp/retail-ai-advisor'
  // telemetry
  LOG_LEVEL: 'WARNING'
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  TELEMETRY_CONSOLE_EXPORT: 'false'
  // market signals: ZenRows, competitor import, Trends backoff
  ZENROWS_BASE_URL: 'https://api.zenrows.com/v1/'
  ZENROWS_CONCURRENCY: '5'
  ZENROWS_TIMEOUT_SECONDS: '120.0'
  ZENROWS_SERVER_RETRIES: '2'
  COMPETITOR_CSV_MAX_BYTES: '5000000'
  COMPETITOR_MATCH_MIN_TITLE_SCORE: '0.8'
  TRENDS_RETRY_AFTER_SECONDS: '60.0'
  TRENDS_MAX_WAIT_SECONDS: '300.0'
  TRENDS_PAUSE_SECONDS: '1.0'
  // accounting costs (Apideck) and applying approved prices
  APIDECK_BASE_URL: 'https://unify.apideck.com'
  APIDECK_APP_ID: apideckAppId
  APIDECK_PAGE_SIZE: '200'
  APIDECK_MAX_ATTEMPTS: '5'
  APIDECK_TIMEOUT_SECONDS: '30.0'
  PRICING_APPLY_APPROVED: 'false'
  // pricing engine: stock rules and demand
  PRICING_OVERSTOCK_DAYS: '120.0'
  PRICING_MARKDOWN_PCT: '5.0'
  PRICING_LOW_STOCK_DAYS: '14.0'
  PRICING_RISING_TREND_SLOPE: '0.5'
  PRICING_RAISE_PCT: '5.0'
  PRICING_ELASTICITY_PRIOR: '-1.2'
  // the briefing in the cloud: script, voice, video
  AZURE_OPENAI_ENDPOINT: azureOpenAiEndpoint
  AZURE_OPENAI_DEPLOYMENT: 'gpt-4o-mini'
  AZURE_OPENAI_API_VERSION: '2024-10-21'
  AZURE_OPENAI_MAX_TOKENS: '700'
  AZURE_OPENAI_MAX_RETRIES: '4'
  AZURE_OPENAI_TIMEOUT_SECONDS: '60.0'
  AZURE_OPENAI_TEMPERATURE: '0.4'
  ELEVENLABS_BASE_URL: 'https://api.elevenlabs.io'
  ELEVENLABS_VOICE_ID: '21m00Tcm4TlvDq8ikWAM'
  ELEVENLABS_MODEL_ID: 'eleven_multilingual_v2'
  ELEVENLABS_OUTPUT_FORMAT: 'mp3_44100_128'
  ELEVENLABS_MAX_RETRIES: '4'
  ELEVENLABS_TIMEOUT_SECONDS: '120.0'
  VEED_ENDPOINT: veedEndpoint
  VEED_RESOLUTION: '720p'
  VEED_IMAGE_URL: veedImageUrl
  VEED_TIMEOUT_SECONDS: '120.0'
  // media store (Blob Storage with the app's identity)
  MEDIA_STORE: 'auto'
  MEDIA_BLOB_ACCOUNT_URL: storageBlobEndpoint
  MEDIA_BLOB_CONTAINER: 'briefings'
  MEDIA_LINK_MINUTES: '60'
}

// Read by the Functions host, the Azure SDK or the Azure Monitor exporter, not by the settings model.
// On Flex Consumption the runtime and version live in functionAppConfig, so FUNCTIONS_WORKER_RUNTIME
// and FUNCTIONS_EXTENSION_VERSION are deliberately absent.
var platformSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
  AZURE_TOKEN_CREDENTIALS: 'prod'
}

// With the Durable Task Scheduler, host.json's storage provider is switched by app settings
// (AzureFunctionsJobHost__ overrides host.json), so one host.json serves both backends.
var durableTaskSchedulerSettings = empty(schedulerEndpoint) ? {} : {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(platformSettings, durableTaskSchedulerSettings, appSettings)
}

output name string = site.name
output baseUrl string = baseUrl
