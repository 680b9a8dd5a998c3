/* Train mode of seiflow's MTP kernel (included by _mtpkernel.c): energy, forces and virial of a
 * structure together with their derivatives with respect to every MTP parameter (moment
 * coefficients w_s, species coefficients c_t, radial coefficients C[ti][tj][mu][q]), in one
 * pass over the pairs inside the cutoff.
 *
 * Per atom i, with G_b(k) = dm_b/dr_k = f'_mu P_b u + f_mu (grad_u P_b - (grad_u P_b . u) u) / r
 * and dm_x = dE_i/dm_x the moment adjoints, the neighbour gradient is g_k = dE_i/dr_k and its
 * parameter derivatives are position derivatives of dE_i/dtheta:
 *     dg_k/dw_s = TM_mapping[s](k),  TM_x = dm_x/dr_k  (forward tangents from TM_b = G_b)
 *     dg_k/dp   = sum_b' S[b'][p] TA_b'(k) + [type_k = tj] (T'_q a_mu u + T_q (grad_u A_mu)_perp / r)
 * for p = (tj, mu, q): TA_x = d(dm_x)/dr_k (the adjoint pass differentiated along TM),
 * S[b'][p] = dm_b'/dp = [mu_b' = mu] sum_{k of type tj} T_q(r_k) P_b'(u_k), T_q the smoothed
 * Chebyshev functions, a_mu = dE_i/df_mu and A_mu(u) = sum_{b of mu} dm_b P_b(u). The tangents
 * are vectors over the 3 x cap neighbour coordinates, one per moment; each parameter row is
 * scattered into forces (+g on i, -g on j) and virial (g (x) r_ij) like the primal gradient.
 */

typedef struct {
    int n_rad;                             /* n_species * rfc * rbs radial rows per atom */
    double *S;                             /* n_basic x ns*rbs */
    double *dP, *V, *TM, *TA, *Mk;         /* n_mono x 3 x cap, rfc x 3 x cap, n_moments x 3 x
                                              cap (twice), n_rad x 3 x cap */
    double *G;                             /* = TM: its first n_basic rows */
    void *block;
} train_ws;

static int tw_init(train_ws *tw, const mtp_model *M, int cap)
{
    size_t nb = (size_t)M->n_basic, c3 = 3 * (size_t)cap;
    tw->n_rad = M->n_species * M->rfc * M->rbs;
    size_t sizes[] = {nb * M->n_species * M->rbs, (size_t)M->n_mono * c3, (size_t)M->rfc * c3,
                      (size_t)M->n_moments * c3, (size_t)M->n_moments * c3,
                      (size_t)tw->n_rad * c3};
    double **ptrs[] = {&tw->S, &tw->dP, &tw->V, &tw->TM, &tw->TA, &tw->Mk};
    size_t total = 0;
    for (int k = 0; k < 6; k++)
        total += (sizes[k] + 7) / 8 * 8;
    size_t bytes = (total * sizeof(double) + 63) / 64 * 64 + 64;
    double *d = (double *)aligned_alloc(64, bytes);
    if (!d)
        return -1;
    memset(d, 0, bytes); /* every lane finite: the passes below run over whole rows */
    tw->block = d;
    for (int k = 0; k < 6; k++) {
        *ptrs[k] = d;
        d += (sizes[k] + 7) / 8 * 8;
    }
    tw->G = tw->TM;
    return 0;
}

/* dP_q/du_a of every monomial (through the tree) and G_b(k) of every basic moment. */
static MTP_INLINE void basic_gradients(workspace *w, train_ws *tw, const mtp_model *M, int np)
{
    const int cap = w->cap;
    const double *u[3] = {w->ux, w->uy, w->uz};
    memset(tw->dP, 0, sizeof(double) * 3 * cap);
    for (int q = 1; q < M->n_mono; q++) {
        int par = M->mono_parent[q], ax = M->mono_axis[q];
        const double *pp = w->mono + par * cap;
        for (int a = 0; a < 3; a++) {
            const double *dp = tw->dP + (size_t)(3 * par + a) * cap;
            double *o = tw->dP + (size_t)(3 * q + a) * cap;
            for (int k = 0; k < np; k++)
                o[k] = dp[k] * u[ax][k] + (a == ax ? pp[k] : 0.0);
        }
    }
    for (int b = 0; b < M->n_basic; b++) {
        int q = M->basic_mono[b], mu = M->basic_mu[b];
        const double *p = w->mono + q * cap, *dp = tw->dP + (size_t)3 * q * cap;
        const double *f = w->f + mu * cap, *fp = w->fp + mu * cap;
        double *g = tw->G + (size_t)3 * b * cap;
        for (int k = 0; k < np; k++) {
            double dot = dp[k] * u[0][k] + dp[cap + k] * u[1][k] + dp[2 * cap + k] * u[2][k];
            for (int a = 0; a < 3; a++)
                g[a * cap + k] = fp[k] * p[k] * u[a][k]
                                 + f[k] * (dp[a * cap + k] - dot * u[a][k]) * w->inv_r[k];
        }
    }
    /* V_mu = (grad_u A_mu)_perp / r */
    memset(tw->V, 0, sizeof(double) * 3 * cap * M->rfc);
    for (int b = 0; b < M->n_basic; b++) {
        const double *dp = tw->dP + (size_t)3 * M->basic_mono[b] * cap;
        double *v = tw->V + (size_t)3 * M->basic_mu[b] * cap, g = w->dm[b];
        for (int k = 0; k < 3 * cap; k++)
            v[k] += g * dp[k];
    }
    for (int mu = 0; mu < M->rfc; mu++) {
        double *v = tw->V + (size_t)3 * mu * cap;
        for (int k = 0; k < np; k++) {
            double dot = v[k] * u[0][k] + v[cap + k] * u[1][k] + v[2 * cap + k] * u[2][k];
            for (int a = 0; a < 3; a++)
                v[a * cap + k] = (v[a * cap + k] - dot * u[a][k]) * w->inv_r[k];
        }
    }
}

/* Position tangents of every moment, TM[x] = dm_x/dr (from TM[b] = G_b), and of every adjoint,
 * TA[x] = d(dE_i/dm_x)/dr, through the contractions: vectors of 3 x cap over the neighbours. */
static MTP_INLINE void tangents(workspace *w, train_ws *tw, const mtp_model *M)
{
    const size_t L = 3 * (size_t)w->cap;
    const double *m = w->m, *dm = w->dm;
    const int *ij = M->term_ij;
    double *TM = tw->TM, *TA = tw->TA;
    memset(TM + M->n_basic * L, 0, sizeof(double) * (M->n_moments - M->n_basic) * L);
    for (int g = 0; g < M->n_groups; g++) {
        double *o = TM + M->group_k[g] * L;
        for (int x = M->group_start[g]; x < M->group_start[g + 1]; x++) {
            int i = ij[2 * x], j = ij[2 * x + 1];
            double ci = M->term_mult[x] * m[j], cj = M->term_mult[x] * m[i];
            const double *ti = TM + i * L, *tj = TM + j * L;
            for (size_t k = 0; k < L; k++)
                o[k] += ci * ti[k] + cj * tj[k];
        }
    }
    for (int x = 0; x < M->n_moments; x++) {
        int y = M->adj_order[x];
        double *o = TA + y * L;
        memset(o, 0, sizeof(double) * L);
        for (int u = M->use_start[y]; u < M->use_start[y + 1]; u++) {
            int k = M->use_k[u], q = M->use_other[u];
            double ca = M->use_mult[u] * m[q], cm = M->use_mult[u] * dm[k];
            const double *ta = TA + k * L, *tm = TM + q * L;
            for (size_t l = 0; l < L; l++)
                o[l] += ca * ta[l] + cm * tm[l];
        }
    }
}

/* S[b][tj][q] = dm_b/dC[ti][tj][mu_b][q], and dE_i/dC (into je_rad, the row of type ti). */
static MTP_INLINE void radial_rows(workspace *w, train_ws *tw, const mtp_model *M, int n,
                                   double *je_rad)
{
    const int cap = w->cap, rbs = M->rbs, rfc = M->rfc, nb = M->n_basic, ns = M->n_species;
    memset(tw->S, 0, sizeof(double) * nb * ns * rbs);
    int start = 0;
    while (start < n) {
        int tj = w->jtype[start], end = start;
        while (end < n && w->jtype[end] == tj)
            end++;
        for (int q = 0; q < rbs; q++) {
            const double *tb = w->tb + q * cap;
            for (int b = 0; b < nb; b++) {
                const double *p = w->mono + M->basic_mono[b] * cap;
                double acc = 0.0;
                for (int k = start; k < end; k++)
                    acc += tb[k] * p[k];
                tw->S[((size_t)b * ns + tj) * rbs + q] = acc;
            }
            for (int mu = 0; mu < rfc; mu++) {
                const double *af = w->af + mu * cap;
                double acc = 0.0;
                for (int k = start; k < end; k++)
                    acc += tb[k] * af[k];
                je_rad[(tj * rfc + mu) * rbs + q] += acc;
            }
        }
        start = end;
    }
}

/* One row's gradient g_k (x, y, z rows of cap) into forces (+g on i, -g on j) and virial. */
static MTP_INLINE void scatter_row(const workspace *w, const double *mk, int i, int n, double *f,
                                   double *v)
{
    const int cap = w->cap;
    for (int k = 0; k < n; k++) {
        int j = w->jidx[k];
        double g[3] = {mk[k], mk[cap + k], mk[2 * cap + k]};
        double d[3] = {w->dx[k], w->dy[k], w->dz[k]};
        for (int a = 0; a < 3; a++) {
            f[3 * i + a] += g[a];
            f[3 * j + a] -= g[a];
            for (int c = 0; c < 3; c++)
                v[3 * a + c] += g[a] * d[c];
        }
    }
}

/* Parameter rows: linear (moment coefficient s) = TM[mapping[s]]; radial (tj, mu, q) =
 * sum_b' S[b'][tj][q] TA[b'] over b' of mu, plus the direct term; scattered. */
static MTP_INLINE void train_scatter(workspace *w, train_ws *tw, const mtp_model *M, int i, int n,
                                     int n_atoms, int rad0, double *jf, double *jv)
{
    const int cap = w->cap, rbs = M->rbs, rfc = M->rfc, ns = M->n_species;
    const size_t L = 3 * (size_t)cap;
    const double *u[3] = {w->ux, w->uy, w->uz};
    for (int s = 0; s < M->n_scalar; s++)
        scatter_row(w, tw->TM + M->mapping[s] * L, i, n, jf + (size_t)s * 3 * n_atoms,
                    jv + (size_t)s * 9);
    memset(tw->Mk, 0, sizeof(double) * tw->n_rad * L);
    for (int bp = 0; bp < M->n_basic; bp++) {
        const double *ta = tw->TA + bp * L;
        for (int tj = 0; tj < ns; tj++)
            for (int q = 0; q < rbs; q++) {
                double c = tw->S[((size_t)bp * ns + tj) * rbs + q];
                if (c == 0.0)
                    continue;
                double *mk = tw->Mk + ((size_t)(tj * rfc + M->basic_mu[bp]) * rbs + q) * L;
                for (size_t l = 0; l < L; l++)
                    mk[l] += c * ta[l];
            }
    }
    int start = 0;
    while (start < n) {
        int tj = w->jtype[start], end = start;
        while (end < n && w->jtype[end] == tj)
            end++;
        for (int mu = 0; mu < rfc; mu++)
            for (int q = 0; q < rbs; q++) {
                double *mk = tw->Mk + ((size_t)(tj * rfc + mu) * rbs + q) * L;
                const double *tb = w->tb + q * cap, *dtb = w->dtb + q * cap;
                const double *af = w->af + mu * cap, *v = tw->V + (size_t)3 * mu * cap;
                for (int a = 0; a < 3; a++)
                    for (int k = start; k < end; k++)
                        mk[a * cap + k] += dtb[k] * af[k] * u[a][k] + tb[k] * v[a * cap + k];
            }
        start = end;
    }
    for (int r = 0; r < tw->n_rad; r++)
        scatter_row(w, tw->Mk + r * L, i, n, jf + (size_t)(rad0 + r) * 3 * n_atoms,
                    jv + (size_t)(rad0 + r) * 9);
}

/* One atom in train mode: primal energy, forces, virial and all their parameter rows. */
MTP_CLONES
static void train_atom(workspace *w, train_ws *tw, const mtp_model *M, const double *seed, int i,
                       const double *pos, const double *cell, const int *types,
                       const int64_t *offsets, const int32_t *nj, const int32_t *ns,
                       int n_atoms, double *energies, double *frc, double *vir, double *je,
                       double *jf, double *jv)
{
    int n = gather(w, M, i, pos, cell, types, offsets, nj, ns);
    int np = (n + LANES - 1) / LANES * LANES, ti = types[i];
    int rad0 = M->n_scalar + M->n_species + ti * M->n_species * M->rfc * M->rbs;
    radial(w, M, ti, n, np);
    moments(w, M, np);
    double e = M->species_coeffs[ti];
    for (int s = 0; s < M->n_scalar; s++) {
        double v = w->m[M->mapping[s]];
        e += M->moment_coeffs[s] * v;
        je[s] += v;
    }
    je[M->n_scalar + ti] += 1.0;
    energies[i] = e;
    moment_adjoints(w, M, seed);
    neighbour_gradient(w, M, np);
    scatter_forces(w, i, n, frc, vir);
    basic_gradients(w, tw, M, np);
    tangents(w, tw, M);
    radial_rows(w, tw, M, n, je + rad0);
    train_scatter(w, tw, M, i, n, n_atoms, rad0, jf, jv);
}

/* Train mode over a structure (serial). Outputs as mtp_evaluate, plus, for the n_params =
 * n_scalar + n_species + n_species^2 rfc rbs parameters in motep's order (moment, species,
 * radial coefficients): je (n_params) = dE/dtheta, jf (n_params x n_atoms x 3) = dF/dtheta,
 * jv (n_params x 3 x 3) = d virial / dtheta. Returns 0, or -1 when memory ran out. */
MTP_EXPORT int mtp_train(const mtp_model *M, int n_atoms, const double *pos, const double *cell,
                         const int *types, const int64_t *offsets, const int32_t *nj,
                         const int32_t *ns, double *energies, double *forces, double *virial,
                         double *je, double *jf, double *jv)
{
    size_t n_params = (size_t)M->n_scalar + M->n_species
                      + (size_t)M->n_species * M->n_species * M->rfc * M->rbs;
    int max_nb = 0;
    for (int i = 0; i < n_atoms; i++) {
        int c = (int)(offsets[i + 1] - offsets[i]);
        max_nb = c > max_nb ? c : max_nb;
    }
    memset(forces, 0, sizeof(double) * 3 * n_atoms);
    memset(virial, 0, sizeof(double) * 9);
    memset(je, 0, sizeof(double) * n_params);
    memset(jf, 0, sizeof(double) * n_params * 3 * n_atoms);
    memset(jv, 0, sizeof(double) * n_params * 9);
    double *seed = (double *)calloc((size_t)M->n_moments, sizeof(double));
    workspace w;
    train_ws tw;
    if (!seed)
        return -1;
    if (ws_init(&w, M, max_nb) != 0) {
        free(seed);
        return -1;
    }
    if (tw_init(&tw, M, w.cap) != 0) {
        free(w.block);
        free(seed);
        return -1;
    }
    for (int s = 0; s < M->n_scalar; s++)
        seed[M->mapping[s]] += M->moment_coeffs[s];
    for (int i = 0; i < n_atoms; i++)
        train_atom(&w, &tw, M, seed, i, pos, cell, types, offsets, nj, ns, n_atoms, energies,
                   forces, virial, je, jf, jv);
    free(tw.block);
    free(w.block);
    free(seed);
    return 0;
}
